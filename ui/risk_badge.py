"""A halted or killed bot says so first, in red, with the reason and the bar it stopped on.

The review found a bot whose kill switch fired in 2002 listed as "running · healthy" for
sixteen years of flat equity: a list row must never look healthy while the bot holds nothing
by its own risk rule. Healthy states (ok, adjusted) draw nothing.
"""

from __future__ import annotations

import html
from datetime import datetime

from ui.charts import STOP_COLOR
from ui.format import bar_label

STOPPED = frozenset({"halted", "killed"})


def risk_badge_html(status: str | None, reason: str | None = None, since: datetime | None = None) -> str:
    """``KILLED since 2002-10-07: drawdown 20.34% reached the 20% limit...``; empty when trading."""
    if status not in STOPPED:
        return ""
    when = f" since {bar_label(since)}" if since is not None else ""
    why = f": {html.escape(reason)}" if reason else ""
    return (
        f'<div class="bot-risk" data-risk="{status}" style="color:{STOP_COLOR};font-weight:700">'
        f"{status.upper()}{when}{why}</div>"
    )
