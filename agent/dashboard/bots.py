"""Bots page: a table of every local bot (:mod:`ui.bots_table`: risk state, regime, exposure, equity, P&L,
last bar, process state) with state-aware controls under each row."""

from __future__ import annotations

import html
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import panel as pn

from agent.dashboard.common import page, push_on_change
from agent.dashboard.context import AgentContext
from agent.instances import list_instances
from trader.rearm import write_request_file
from ui.bots_table import CSS as TABLE_CSS
from ui.bots_table import day_change, header_html, holding, risk_since, row_html
from ui.charts import STOPPED, risk_of
from ui.portfolio_record import book_headline, is_portfolio
from ui.rearm import RearmControl, RearmFailed
from ui.regimes import named_exposures


def bot_summary(
    ctx: AgentContext,
    bot_id: str,
    name: str,
    starting_cash: float,
    mode: str = "paper",
    exposures: Sequence[float] | None = None,
    symbols: Sequence[str] = (),
) -> dict[str, Any]:
    """What the Bots table shows for one bot (:func:`ui.bots_table.row_html`)."""
    proc = ctx.supervisor.bots.get(bot_id)
    live = ctx.live.bots.get(bot_id)
    tick = live.ticks[-1] if live and live.ticks else None
    equity = tick.equity if tick else None
    records = list(live.audit) if live else []
    record = records[-1] if records else None
    risk, reason = risk_of(record) if record is not None else (None, "")
    regime, confidence = (tick.regime, tick.confidence) if tick else (None, None)
    portfolio = record is not None and is_portfolio(record.detail)
    if portfolio and record is not None:  # a portfolio's tick is one price: its regime is the record's
        book = book_headline(record)
        regime, confidence = book.regime, book.confidence
        equity = equity if equity is not None else record.equity
    position, exposure = holding(record)
    points = [(t.bar_at, t.equity) for t in live.ticks if t.equity is not None] if live else []
    points = points or [(r.bar_at, r.equity) for r in records if r.equity is not None]
    today = day_change(points)
    since, since_known = risk_since(records) if risk in STOPPED else (None, False)
    return {
        "bot_id": bot_id,
        "name": name,
        "mode": mode,
        "symbols": list(symbols),
        "status": proc.state if proc else "starting",
        "reason": proc.reason if proc else "",
        "restarts": proc.restarts if proc else 0,
        "health": ctx.live.health(bot_id),
        "regime": regime,
        "confidence": confidence,
        "portfolio": portfolio,
        "position": position,
        "exposure": exposure,
        "equity": equity,
        "pnl": None if equity is None else equity - starting_cash,
        "pnl_pct": None if equity is None or not starting_cash else equity / starting_cash - 1,
        "pnl_today": today[0] if today else None,
        "pnl_today_pct": today[1] if today else None,
        "last_bar": tick.bar_at if tick else record.bar_at if record else None,
        "ticks": live.last_tick_seq if live else 0,
        "exposures": list(exposures) if exposures is not None else None,
        "risk": risk,
        "risk_reason": reason,
        "risk_since": since,
        "risk_since_known": since_known,
    }


async def rearm_local(ctx: AgentContext, bot_id: str, name: str) -> str:
    """Leave a re-arm request in the bot's state dir; the bot applies it before its next decision."""
    try:
        write_request_file(ctx.home.state_dir(bot_id), uuid.UUID(bot_id))
    except OSError as exc:
        raise RearmFailed(
            html.escape(f"could not leave the request in its state folder ({exc.strerror or exc})")
        ) from exc
    running = (proc := ctx.supervisor.bots.get(bot_id)) is not None and proc.state == "running"
    when = "from its next bar" if running else "from its next bar once you start it"
    return f"Re-arm requested: {name} trades again {when}."


_row_html = row_html  # the name the page's unit tests know


RUNNING_STATES = ("starting", "running", "backoff")  # the supervisor is keeping a process up
ENABLED_WHEN = {"Start": False, "Stop": True, "Restart": True}  # enabled while running?


def enable_for_state(buttons: dict[str, pn.widgets.Button], status: str) -> None:
    """Start only for a stopped bot, Stop and Restart only for a running one (the review saw
    Start enabled while the bot ran)."""
    running = status in RUNNING_STATES
    for label, when_running in ENABLED_WHEN.items():
        if (button := buttons.get(label)) is not None:
            button.disabled = running != when_running


def bots_page(ctx: AgentContext) -> pn.Column:
    header = pn.pane.HTML(header_html(), sizing_mode="stretch_width", stylesheets=[TABLE_CSS])
    rows = pn.Column(sizing_mode="stretch_width")
    errors = pn.pane.Alert("", alert_type="warning", visible=False)
    empty = pn.pane.Markdown("No bots yet. Create one with the [New bot wizard](./wizard).", visible=False)
    panes: dict[str, pn.pane.HTML] = {}
    rearms: dict[str, RearmControl] = {}
    shown: list[str] = []
    buttons: dict[str, dict[str, pn.widgets.Button]] = {}  # bot id -> label -> button, for state-aware enabling
    log_title = pn.pane.HTML("", css_classes=["bot-log-title"])
    log_view = pn.pane.HTML("", css_classes=["bot-log-view"], sizing_mode="stretch_width")

    log_of: list[str] = []
    names: dict[str, str] = {}  # bot id -> name, for the log's title

    async def show_log(bot_id: str) -> None:
        log_of[:] = [bot_id]
        render_log()

    def render_log() -> None:
        if not log_of:
            return
        bot_id = log_of[0]
        name, path = names.get(bot_id, bot_id[:8]), str(ctx.home.log_path(bot_id))
        log_title.object = f"<h3>Log of {html.escape(name)} (last 200 lines, {html.escape(path)})</h3>"
        text = ctx.supervisor.log_tail(bot_id) or "(empty)"
        # column-reverse keeps the scroll at the bottom: the log opens at its newest line
        log_view.object = (
            '<div class="bot-log-scroll" style="max-height:360px;overflow:auto;display:flex;'
            f'flex-direction:column-reverse"><pre style="font-size:11px;margin:0">{html.escape(text)}</pre></div>'
        )

    def action(label: str, fn: Callable[[str], Awaitable[None]], bot_id: str, kind: str) -> pn.widgets.Button:
        button = pn.widgets.Button(
            name=label, button_type=kind, width=80, css_classes=[f"bot-{label.lower()}", f"for-{bot_id}"]
        )

        async def click(_event: object) -> None:
            button.disabled = True
            try:
                await fn(bot_id)
            finally:
                button.disabled = False
                refresh()

        button.on_click(click)
        buttons.setdefault(bot_id, {})[label] = button
        return button

    def delete_control(bot_id: str, name: str) -> tuple[pn.widgets.Button, pn.FlexBox]:
        """Delete asks first, naming the bot: one stray click must not remove a running bot."""
        marker = f"for-{bot_id}"
        ask = pn.widgets.Button(name="Delete…", button_type="danger", width=90, css_classes=["bot-delete", marker])
        question = pn.pane.HTML(
            f"<span>Delete <b>{html.escape(name)}</b>? Its process stops and its configuration is removed; "
            "its audit and log stay in its state folder.</span>"
        )
        yes = pn.widgets.Button(
            name=f"Yes, delete {name}", button_type="danger", css_classes=["bot-delete-yes", marker]
        )
        no = pn.widgets.Button(name="Cancel", css_classes=["bot-delete-no", marker])
        confirm = pn.FlexBox(
            question, yes, no, flex_wrap="wrap", visible=False, css_classes=["bot-delete-confirm", marker]
        )

        async def delete(_event: object) -> None:
            yes.disabled = True  # one click, one delete
            try:
                await ctx.supervisor.delete(bot_id)
            finally:
                yes.disabled = False
                refresh()

        ask.on_click(lambda _e: setattr(confirm, "visible", True))
        no.on_click(lambda _e: setattr(confirm, "visible", False))
        yes.on_click(delete)
        return ask, confirm

    def refresh() -> None:
        instances, bad = list_instances(ctx.home)
        errors.object = "Instance files with errors: " + "; ".join(bad) if bad else ""
        errors.visible = bool(bad)
        ids = [i.bot_id for i in instances]
        empty.visible = not ids
        header.visible = bool(ids)
        summaries = {
            i.bot_id: bot_summary(
                ctx,
                i.bot_id,
                i.profile.basics.name,
                i.profile.schedule.starting_cash,
                i.profile.basics.mode,
                named_exposures(i.profile.strategy.exposure_per_regime, i.profile.model.n_states),
                i.profile.market.symbols,
            )
            for i in instances
        }
        names.update({bot_id: s["name"] for bot_id, s in summaries.items()})
        if ids != shown:
            panes.clear()
            rearms.clear()
            built = []
            for bot_id in ids:
                name = summaries[bot_id]["name"]
                panes[bot_id] = pn.pane.HTML(
                    row_html(summaries[bot_id]), sizing_mode="stretch_width", stylesheets=[TABLE_CSS]
                )
                rearms[bot_id] = RearmControl(name, partial(rearm_local, ctx, bot_id, name), bot_id=bot_id)
                sup = ctx.supervisor
                ask_delete, confirm_delete = delete_control(bot_id, name)
                controls = pn.FlexBox(  # wraps at phone width instead of widening the page
                    action("Start", sup.start_bot, bot_id, "success"),
                    action("Stop", sup.stop, bot_id, "warning"),
                    action("Restart", sup.restart, bot_id, "primary"),
                    ask_delete,
                    action("Log", show_log, bot_id, "light"),
                    flex_wrap="wrap",
                )
                built.append(
                    pn.Column(
                        panes[bot_id],
                        controls,
                        confirm_delete,
                        rearms[bot_id].panel,
                        styles={"border-bottom": "1px solid #eee"},
                        sizing_mode="stretch_width",
                    )
                )
            rows.objects = built
            shown[:] = ids
            for gone in set(buttons) - set(ids):
                del buttons[gone]
        else:
            for bot_id, summary in summaries.items():
                panes[bot_id].object = row_html(summary)
        for bot_id, summary in summaries.items():
            rearms[bot_id].show_for(summary["risk"])
            enable_for_state(buttons.get(bot_id, {}), summary["status"])

    refresh()
    pn.state.add_periodic_callback(refresh, period=1000)
    pn.state.add_periodic_callback(render_log, period=2000)
    push_on_change(ctx, lambda _bot, kind: kind in ("tick", "status"), refresh)
    body = pn.Column("## Bots", errors, empty, header, rows, log_title, log_view, sizing_mode="stretch_width")
    return page(ctx, "bots", body)
