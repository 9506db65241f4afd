"""The agent's page frame: its navigation, the cloud reconnect prompt, live pushes.

What the web app shares (viewport tag, contrast and focus CSS, regime colours) lives in :mod:`ui`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import panel as pn

from agent.dashboard.context import AgentContext
from ui import regimes
from ui.bots_table import mode_badge as mode_badge  # shared with the Cloud page
from ui.page import apply_chrome

PAGES: tuple[tuple[str, str], ...] = (
    ("bots", "Bots"),
    ("live", "HMM live"),
    ("audit", "Audit"),
    ("backtests", "Backtests"),
    ("wizard", "New bot"),
    ("cloud", "Cloud"),
)

CSS = """
.hmm-nav a { margin-right: 1.2em; font-weight: 600; text-decoration: none; color: #1f4e79; }
.hmm-nav a.current { color: #000; border-bottom: 2px solid #1f4e79; }
table.hmm { border-collapse: collapse; font-size: 13px; }
table.hmm td, table.hmm th { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
"""


def regime_color(regime: int | None, exposures: Sequence[float] | None = None) -> str:
    """The shared regime colour (:func:`ui.regimes.regime_color`); by exposure when the profile is known."""
    return regimes.regime_color(regime, exposures)


def query_arg(name: str) -> str | None:
    """A URL query argument of the current session (``/live?bot=<id>``)."""
    args = pn.state.session_args.get(name)
    return args[0].decode() if args else None


def page(ctx: AgentContext, current: str, body: Any) -> pn.Column:
    """The page frame: title, navigation, the reconnect prompt when the cloud login lapsed."""
    apply_chrome()
    links = " ".join(
        f'<a href="./{slug}" class="{"current" if slug == current else ""}">{label}</a>' for slug, label in PAGES
    )
    nav = pn.pane.HTML(
        f'<div class="hmm-nav"><b style="margin-right:2em">HMM Trade agent</b>{links}</div>', stylesheets=[CSS]
    )
    prompt = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["reconnect-prompt"])

    def check_cloud() -> None:
        lapsed = ctx.sync.status == "reconnect"
        prompt.object = f"**Reconnect to the cloud.** {ctx.sync.message}. [Log in again](./cloud)" if lapsed else ""
        prompt.visible = lapsed

    check_cloud()
    pn.state.add_periodic_callback(check_cloud, period=1000)
    return pn.Column(nav, prompt, body, sizing_mode="stretch_width")


def push_on_change(ctx: AgentContext, wanted: Callable[[str, str], bool], refresh: Callable[[], None]) -> None:
    """Run ``refresh`` in this session soon after a bus message ``wanted(bot_id, kind)`` arrives.

    Pushes coalesce: a burst of messages schedules one refresh, so a busy bus cannot queue
    more work than the browser can draw.
    """
    doc = pn.state.curdoc
    pending = False

    def run() -> None:
        nonlocal pending
        pending = False
        refresh()

    def on_message(bot_id: str, kind: str) -> None:
        nonlocal pending
        if pending or doc is None or not wanted(bot_id, kind):
            return
        pending = True
        doc.add_next_tick_callback(run)

    unsubscribe = ctx.live.subscribe(on_message)
    pn.state.on_session_destroyed(lambda _context: unsubscribe())
