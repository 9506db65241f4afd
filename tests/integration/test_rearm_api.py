"""``POST /api/v1/bots/{id}/rearm``: the owner's request reaches the bot's ``<id>.rearm`` key through
an intent; anyone else gets 404, a retry with the same key is one intent, a bot that is not halted 409."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import asyncpg
import httpx
from nats.js.errors import KeyNotFoundError

from contracts.events import AuditRecord
from contracts.intents import RearmRequest
from events.bus import Bus
from events.topology import BOT_STATE_BUCKET, bot_subject, rearm_request_key
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login, wait_for
from tests.hostedutil import hosted_user
from tests.integration.test_audit_ingest import audit_record

HOSTED: dict[str, Any] = {**copy.deepcopy(VALID_PROFILE), "basics": {**VALID_PROFILE["basics"], "surface": "hosted"}}


async def _hosted_bot(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await api.post("/api/v1/bots", json=HOSTED, headers=headers)
    assert created.status_code == 202, created.text
    assert (await intent_settled(api, headers, created.json()["intent_id"]))["status"] == "done"
    return str(created.json()["bot_id"])


async def _request_on_key(bus: Bus, bot_id: str) -> RearmRequest | None:
    kv = await bus.js.key_value(BOT_STATE_BUCKET)
    try:
        entry = await kv.get(rearm_request_key(bot_id))
    except KeyNotFoundError:
        return None
    return RearmRequest.model_validate_json(entry.value) if entry.value else None


async def _record_says(
    api: httpx.AsyncClient, headers: dict[str, str], bus: Bus, bot_id: str, seq: int, risk: str
) -> None:
    """The bot publishes a decision record with this risk status; returns once the API serves it."""
    base = audit_record(uuid.UUID(bot_id), seq)
    record = AuditRecord(**{**base.model_dump(), "detail": {"risk": {"status": risk, "reasons": []}}})
    await bus.publish(bot_subject(bot_id, "audit"), record)

    async def stored() -> bool:
        page = (await api.get(f"/api/v1/bots/{bot_id}/audit", params={"after": seq - 1}, headers=headers)).json()
        return bool(page["records"])

    await wait_for(stored, what=f"record {seq} stored")


async def test_the_owner_rearms_a_hosted_bot_through_its_key_once_per_idempotency_key(
    api: httpx.AsyncClient, workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    alice = await hosted_user(api, db, "pro")
    bot_id = await _hosted_bot(api, alice)
    await _record_says(api, alice, bus, bot_id, 1, "killed")

    path = f"/api/v1/bots/{bot_id}/rearm"
    first = await api.post(path, headers={**alice, "Idempotency-Key": "rearm-1"})
    assert first.status_code == 202, first.text
    intent_id = first.json()["intent_id"]
    settled = await intent_settled(api, alice, intent_id)
    assert (settled["status"], settled["kind"], settled["bot_id"]) == ("done", "bot.rearm", bot_id)
    request = await _request_on_key(bus, bot_id)
    assert request is not None and (request.id, str(request.bot_id)) == (intent_id, bot_id)

    # the bot re-armed; a retry of the same request still answers the same intent, and writes nothing new
    await _record_says(api, alice, bus, bot_id, 2, "ok")
    retry = await api.post(path, headers={**alice, "Idempotency-Key": "rearm-1"})
    assert (retry.status_code, retry.json()["intent_id"]) == (202, intent_id)
    assert (await _request_on_key(bus, bot_id)).id == intent_id  # type: ignore[union-attr]

    # a new request for a bot that is trading is refused, saying why
    refused = await api.post(path, headers={**alice, "Idempotency-Key": "rearm-2"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "is not halted" in refused.json()["detail"] and "'ok'" in refused.json()["detail"]


async def test_another_users_bot_is_not_found_and_a_local_bot_is_rearmed_from_its_agent(
    api: httpx.AsyncClient, workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    alice = await hosted_user(api, db, "pro")
    bob = await signup_and_login(api)
    bot_id = await _hosted_bot(api, alice)
    stolen = await api.post(f"/api/v1/bots/{bot_id}/rearm", headers=bob)
    assert stolen.status_code == 404
    assert stolen.headers["content-type"] == "application/problem+json"
    assert await _request_on_key(bus, bot_id) is None

    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=alice)
    await intent_settled(api, alice, created.json()["intent_id"])
    local = await api.post(f"/api/v1/bots/{created.json()['bot_id']}/rearm", headers=alice)
    assert local.status_code == 409
    assert "agent's dashboard" in local.json()["detail"]

    # no record yet: the API cannot tell, so it accepts and the bot will say whether it was halted
    fresh = await api.post(f"/api/v1/bots/{bot_id}/rearm", headers=alice)
    assert fresh.status_code == 202
    assert (await intent_settled(api, alice, fresh.json()["intent_id"]))["status"] == "done"
