"""The audit table's row for a live bot's record: venue orders sent, intraday bar times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from agent.dashboard.audit import flat, pipeline_view
from contracts.events import AuditRecord

BOT = uuid.uuid4()


def _record(bar_at: datetime, detail: dict[str, object]) -> AuditRecord:
    return AuditRecord(
        id=f"{BOT}:1", correlation_id=str(BOT), bot_id=BOT, seq=1, bar_at=bar_at, regime=1, detail=detail
    )


def test_a_live_record_counts_the_orders_the_venue_took_and_shows_the_bar_minute() -> None:
    detail = {
        "orders": [{"client_order_id": "a"}, {"client_order_id": "b"}],
        "executions": [
            {"client_order_id": "a", "venue_order_id": "v-1", "status": "new"},
            {"client_order_id": "b", "status": "skipped", "reason": "under the minimum"},
        ],
        "fills": [],
    }
    row = flat(str(BOT), _record(datetime(2026, 3, 2, 14, 35, tzinfo=UTC), detail))
    assert (row["orders"], row["sent"], row["bar_at"]) == (2, 1, "2026-03-02 14:35")
    stages = list(pipeline_view(str(BOT), _record(datetime(2026, 3, 2, tzinfo=UTC), detail)))
    assert stages.index("orders") < stages.index("executions") < stages.index("fills")


def test_a_daily_record_shows_its_date() -> None:
    assert flat(str(BOT), _record(datetime(2026, 3, 2, tzinfo=UTC), {}))["bar_at"] == "2026-03-02"
