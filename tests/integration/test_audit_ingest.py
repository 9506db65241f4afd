"""Audit records stream from a bot over the bus into Postgres, once each, readable in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from contracts.events import AuditRecord
from events.bus import MSG_ID, Bus, envelope_headers
from events.topology import bot_subject
from tests.conftest import VALID_PROFILE, intent_settled, wait_for


def audit_record(bot_id: uuid.UUID, seq: int) -> AuditRecord:
    return AuditRecord(
        id=f"{bot_id}:{seq}",
        bot_id=bot_id,
        seq=seq,
        bar_at=datetime(2018, 1, 2, 21, tzinfo=UTC) + timedelta(days=seq),
        regime=seq % 3,
        probabilities=[0.1, 0.2, 0.7],
        equity=100_000 + seq,
        detail={"target": 0.5, "orders": []},
    )


async def test_audit_records_are_stored_once_and_served_in_seq_order(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus
) -> None:
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    bot_id = uuid.UUID(created.json()["bot_id"])
    await intent_settled(api, auth, created.json()["intent_id"])

    for seq in [3, 1, 2, *range(4, 251)]:
        await bus.publish(bot_subject(bot_id, "audit"), audit_record(bot_id, seq))
    for seq in (1, 2, 3):  # a bot replaying its buffer after an outage: new msg ids, same seqs
        record = audit_record(bot_id, seq)
        await bus.publish_raw(
            bot_subject(bot_id, "audit"),
            record.model_dump_json().encode(),
            headers={**envelope_headers(record), MSG_ID: f"replay-{seq}"},
        )

    async def all_stored() -> list[dict[str, Any]] | None:
        seqs: list[dict[str, Any]] = []
        after = 0
        while True:
            page = (
                await api.get(f"/api/v1/bots/{bot_id}/audit", params={"after": after, "limit": 100}, headers=auth)
            ).json()
            seqs.extend(page["records"])
            if page["next_after"] is None:
                break
            after = page["next_after"]
        return seqs if len(seqs) >= 250 else None

    records = await wait_for(all_stored, what="250 audit records")

    async def replays_acked() -> bool:
        info = await bus.js.consumer_info("BOTS", "audit-ingest")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(replays_acked, what="the replayed records to be acked")
    records = await all_stored() or []
    assert [r["seq"] for r in records] == list(range(1, 251))
    assert records[0]["probabilities"] == [0.1, 0.2, 0.7]
    assert records[0]["detail"] == {"target": 0.5, "orders": []}
    assert records[0]["equity"] == 100_001
