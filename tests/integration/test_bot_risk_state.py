"""``GET /api/v1/bots`` and ``/bots/{id}`` say a bot's risk state from its newest stored record: a
killed bot is listed killed, with the reason and the bar its limit tripped on, never as trading."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from contracts.events import AuditRecord
from events.bus import Bus
from events.topology import bot_subject
from tests.conftest import VALID_PROFILE, intent_settled, wait_for
from tests.integration.test_audit_ingest import audit_record

HALT = {"kind": "halt", "rule": "drawdown", "reason": "drawdown 20.34% reached the 20% limit: flat until re-armed"}


async def _publish(bus: Bus, bot_id: str, seq: int, status: str, *, events: list[dict[str, Any]] | None = None) -> None:
    base = audit_record(uuid.UUID(bot_id), seq)
    reasons = [] if status == "ok" else [f"{status}: " + HALT["reason"]]
    detail = {"risk": {"status": status, "approved": 0.0, "reasons": reasons}, "events": events or []}
    await bus.publish(bot_subject(bot_id, "audit"), AuditRecord(**{**base.model_dump(), "detail": detail}))


async def _risk_listed(api: httpx.AsyncClient, headers: dict[str, str], bot_id: str) -> dict[str, Any] | None:
    bots = (await api.get("/api/v1/bots", headers=headers)).json()["bots"]
    risk: dict[str, Any] | None = next(b for b in bots if b["id"] == bot_id)["risk"]
    return risk


async def test_a_killed_bot_is_listed_killed_since_the_bar_its_limit_tripped_until_it_trades_again(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus
) -> None:
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    bot_id = created.json()["bot_id"]
    await intent_settled(api, auth, created.json()["intent_id"])
    assert await _risk_listed(api, auth, bot_id) is None  # no record yet: nothing to say

    await _publish(bus, bot_id, 1, "ok")
    await _publish(bus, bot_id, 2, "killed", events=[HALT])  # the limit trips on seq 2...
    await _publish(bus, bot_id, 3, "killed")  # ...and the bot stays flat after it
    await _publish(bus, bot_id, 4, "killed", events=[{"kind": "regime_change", "from": 0, "to": 1}])

    async def killed_through_seq_4() -> bool:
        risk = await _risk_listed(api, auth, bot_id)
        return risk is not None and risk["status"] == "killed" and (await _stored(api, auth, bot_id)) == 4

    await wait_for(killed_through_seq_4, what="the killed records stored")
    risk = await _risk_listed(api, auth, bot_id)
    assert risk is not None
    assert datetime.fromisoformat(risk["since"]) == audit_record(uuid.UUID(bot_id), 2).bar_at  # seq 2, not 4
    assert risk["reason"] == "killed: " + HALT["reason"]
    one = (await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()
    assert one["risk"] == risk

    await _publish(bus, bot_id, 5, "ok")  # re-armed: trading again
    await wait_for(lambda: _status_is(api, auth, bot_id, "ok"), what="the re-armed record")
    assert await _risk_listed(api, auth, bot_id) == {"status": "ok", "reason": None, "since": None}


async def _stored(api: httpx.AsyncClient, headers: dict[str, str], bot_id: str) -> int:
    page = (await api.get(f"/api/v1/bots/{bot_id}/audit", params={"after": 0}, headers=headers)).json()
    return len(page["records"])


async def _status_is(api: httpx.AsyncClient, headers: dict[str, str], bot_id: str, status: str) -> bool:
    risk = await _risk_listed(api, headers, bot_id)
    return risk is not None and risk["status"] == status
