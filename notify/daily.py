"""The daily summary: one per bot per UTC day, folded from the day's audit records.

A running tally per bot (:class:`DayTally`) absorbs each record; the first record of a
later UTC day (by the record's ``occurred_at``, the wall clock, so a replay bot running
many bars a day still gets one summary a day) closes the previous day and yields its
summary. The summary of a day is therefore sent when the bot's next record arrives: a
bot that decides once a day reports yesterday with today's decision. A bot that stops
for good never summarises its last day (its stop notification says where it ended).

Pure: the caller keeps the tally (Postgres for hosted bots, a file for the agent). A
record at or below the tally's ``last_seq`` is a redelivery and changes nothing, so the
summary's id (bot, day) and its numbers come out the same however often records repeat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from contracts.events import AuditRecord
from contracts.notify import Notification
from notify.derive import notification_id
from notify.render import money, pct, regime_name, signed_money

_NOT_TRADED = frozenset({"rejected", "skipped", "not sent", "unknown"})


@dataclass(frozen=True)
class DayTally:
    """What a bot did so far on one UTC day."""

    bot_id: uuid.UUID
    day: date
    last_seq: int
    open_equity: float | None  # the previous day's closing equity, or the day's first
    close_equity: float | None
    regime: int | None
    trades: int
    decisions: int


def trades_in(detail: dict[str, Any]) -> int:
    """Orders that reached the market in one record: paper fills, or live executions the venue took."""
    fills = detail.get("fills")
    executions = detail.get("executions")
    filled = len(fills) if isinstance(fills, list) else 0
    sent = 0
    if isinstance(executions, list):
        sent = sum(1 for e in executions if isinstance(e, dict) and e.get("status") not in _NOT_TRADED)
    return max(filled, sent)  # a live record may list both for the same orders


def tally(
    previous: DayTally | None, record: AuditRecord, *, bot_name: str | None = None
) -> tuple[DayTally, Notification | None]:
    """Fold ``record`` into the tally; returns the new tally and the summary of a day just closed."""
    if previous is not None and record.seq <= previous.last_seq:
        return previous, None
    day = record.occurred_at.astimezone(UTC).date()
    trades = trades_in(record.detail)
    equity = record.equity
    if previous is None or day > previous.day:
        opening = previous.close_equity if previous is not None and previous.close_equity is not None else equity
        fresh = DayTally(
            bot_id=record.bot_id,
            day=day,
            last_seq=record.seq,
            open_equity=opening,
            close_equity=equity,
            regime=record.regime,
            trades=trades,
            decisions=1,
        )
        return fresh, (summary(previous, bot_name=bot_name) if previous is not None else None)
    # the same day (or a record stamped earlier than the tally's day: a clock step back), folded in
    updated = replace(
        previous,
        last_seq=record.seq,
        close_equity=equity if equity is not None else previous.close_equity,
        open_equity=previous.open_equity if previous.open_equity is not None else equity,
        regime=record.regime if record.regime is not None else previous.regime,
        trades=previous.trades + trades,
        decisions=previous.decisions + 1,
    )
    return updated, None


def summary(day: DayTally, *, bot_name: str | None = None) -> Notification:
    """The notification for a closed day."""
    pnl = None
    change = None
    if day.open_equity is not None and day.close_equity is not None:
        pnl = day.close_equity - day.open_equity
        change = pnl / day.open_equity if day.open_equity else None
    who = bot_name or f"Bot {str(day.bot_id)[:8]}"
    title = f"{who}: {day.day.isoformat()} {signed_money(pnl)}"
    text = "\n".join(
        [
            f"Daily summary for {day.day.isoformat()} (UTC).",
            f"Equity: {money(day.close_equity)}",
            f"P&L of the day: {signed_money(pnl)} ({pct(change)})",
            f"Regime at the close: {regime_name(day.regime)}",
            f"Trades: {day.trades} in {day.decisions} decisions",
        ]
    )
    return Notification(
        id=notification_id(day.bot_id, f"day-{day.day.isoformat()}", "daily_summary"),
        kind="daily_summary",
        bot_id=day.bot_id,
        bot_name=bot_name,
        occurred_at=datetime.combine(day.day, datetime.max.time(), tzinfo=UTC).replace(microsecond=0),
        title=title,
        text=text,
        facts={
            "day": day.day.isoformat(),
            "equity": day.close_equity,
            "pnl": pnl,
            "regime": day.regime,
            "trades": day.trades,
            "decisions": day.decisions,
        },
    )
