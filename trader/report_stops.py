"""Where a backtest's risk limits held the bot flat, for ``report.html``: a kill switch that
fired must be written on the chart, or years of flat equity read as a quiet market."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STOPPED = ("killed", "halted")
STOP_COLOUR = "#b00020"  # 6.9:1 on white
NOTES_SHOWN = 5


@dataclass(frozen=True)
class Stop:
    status: str  # killed | halted
    first: int  # index of the first record held flat
    last: int  # index of the last record held flat
    reason: str


def risk_stops(records: Sequence[dict[str, Any]]) -> list[Stop]:
    """Runs of consecutive records whose risk verdict is killed or halted, one per run."""
    stops: list[Stop] = []
    for i, record in enumerate(records):
        risk = record.get("risk") or {}
        status = risk.get("status")
        if status not in STOPPED:
            continue
        if stops and stops[-1].last == i - 1 and stops[-1].status == status:
            stops[-1] = Stop(status, stops[-1].first, i, stops[-1].reason)
        else:
            reasons = risk.get("reasons") or []
            stops.append(Stop(status, i, i, str(reasons[0]) if reasons else ""))
    return stops


def stop_notes(stops: Sequence[Stop], dates: Sequence[str]) -> str:
    """One line per stop under the summary, the kill switch first: what a trader must not miss."""
    if not stops:
        return ""
    ordered = sorted(stops, key=lambda s: (s.status != "killed", s.first))
    lines = []
    for stop in ordered[:NOTES_SHOWN]:
        until = "to the end of the run" if stop.last == len(dates) - 1 else f"until {dates[stop.last]}"
        reason = f" ({html.escape(stop.reason)})" if stop.reason else ""
        lines.append(
            f'<li class="risk-stop" data-status="{stop.status}"><b>{stop.status.upper()}</b> on '
            f"{html.escape(dates[stop.first])}{reason}: held flat {html.escape(until)}</li>"
        )
    more = f"<li>and {len(ordered) - NOTES_SHOWN} more</li>" if len(ordered) > NOTES_SHOWN else ""
    return f'<ul class="risk-stops" style="color:{STOP_COLOUR}">{"".join(lines)}{more}</ul>'
