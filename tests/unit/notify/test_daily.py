"""The daily summary: one per bot per UTC day, folded from the day's records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from notify.daily import DayTally, tally
from tests.notifyutil import audit_record

BOT = uuid.uuid4()


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def _fold(records: list) -> tuple[DayTally | None, list]:  # type: ignore[type-arg]
    state: DayTally | None = None
    summaries = []
    for record in records:
        state, summary = tally(state, record, bot_name="SPY swing")
        if summary is not None:
            summaries.append(summary)
    return state, summaries


def test_a_day_is_summarised_when_the_next_day_starts() -> None:
    fill = {"side": "buy", "quantity": 2.0}
    records = [
        audit_record(BOT, 1, at=_at(1, 14), equity=100_000.0, regime=1, fills=[fill]),
        audit_record(BOT, 2, at=_at(1, 20), equity=101_250.5, regime=2, fills=[fill, fill]),
        audit_record(BOT, 3, at=_at(2, 14), equity=100_900.0, regime=2),
    ]
    state, summaries = _fold(records)
    assert len(summaries) == 1
    (summary,) = summaries
    assert summary.kind == "daily_summary"
    assert summary.id == f"{BOT}:day-2026-12-01:daily_summary:0"
    assert summary.title == "SPY swing: 2026-12-01 +$1,250.50"
    assert "Equity: $101,250.50" in summary.text
    assert "P&L of the day: +$1,250.50 (+1.25%)" in summary.text
    assert "Trades: 3 in 2 decisions" in summary.text
    assert summary.facts["regime"] == 2
    assert state is not None and state.open_equity == 101_250.5  # the next day's P&L starts from the close


def test_redelivered_records_change_nothing() -> None:
    records = [
        audit_record(BOT, 1, at=_at(1, 14), equity=100_000.0, fills=[{}]),
        audit_record(BOT, 1, at=_at(1, 14), equity=100_000.0, fills=[{}]),
        audit_record(BOT, 2, at=_at(1, 20), equity=99_000.0),
        audit_record(BOT, 2, at=_at(1, 20), equity=99_000.0),
        audit_record(BOT, 3, at=_at(2, 9), equity=99_500.0),
        audit_record(BOT, 3, at=_at(2, 9), equity=99_500.0),
    ]
    _, summaries = _fold(records)
    assert [s.facts["trades"] for s in summaries] == [1]
    assert summaries[0].facts["pnl"] == -1_000.0
    assert "P&L of the day: -$1,000.00 (-1.00%)" in summaries[0].text


def test_many_bars_in_one_day_make_one_summary() -> None:
    records = [audit_record(BOT, seq, at=_at(1, 1 + seq % 20)) for seq in range(1, 40)]
    _, summaries = _fold([*records, audit_record(BOT, 40, at=_at(2, 0))])
    assert len(summaries) == 1
    assert summaries[0].facts["decisions"] == 39


def test_rejected_and_unsent_orders_are_not_trades() -> None:
    executions = [
        {"status": "filled"},
        {"status": "rejected"},
        {"status": "not sent"},
        {"status": "accepted"},
    ]
    records = [audit_record(BOT, 1, at=_at(1, 10), executions=executions), audit_record(BOT, 2, at=_at(2, 10))]
    _, summaries = _fold(records)
    assert summaries[0].facts["trades"] == 2
