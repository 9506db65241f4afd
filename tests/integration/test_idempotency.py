"""Duplicates of one intent are carried out once: on the bus, in the ledger, and via the API."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from contracts.intents import CreateBot
from contracts.profile import BotProfile
from events.bus import MSG_ID, Bus, envelope_headers
from events.topology import intent_event_subject, intent_subject
from tests.busutil import count_on_subject
from tests.conftest import VALID_PROFILE, intent_settled, wait_for


async def _user_id(api: httpx.AsyncClient, auth: dict[str, str]) -> uuid.UUID:
    return uuid.UUID((await api.get("/api/v1/me", headers=auth)).json()["id"])


async def test_same_intent_published_twice_is_processed_once(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    intent = CreateBot(
        user_id=await _user_id(api, auth), bot_id=uuid.uuid4(), profile=BotProfile.model_validate(VALID_PROFILE)
    )
    first = await bus.publish(intent_subject(intent.type), intent)
    second = await bus.publish(intent_subject(intent.type), intent)
    assert not first.duplicate and second.duplicate, "JetStream drops the second publish by Nats-Msg-Id"
    # A copy that slips past the duplicate window (different Nats-Msg-Id, same intent id)
    # is stopped by the worker's idempotency ledger instead.
    await bus.publish_raw(
        intent_subject(intent.type),
        intent.model_dump_json().encode(),
        headers={**envelope_headers(intent), MSG_ID: f"{intent.id}-late-copy"},
    )

    done = await intent_settled(api, auth, intent.id)
    assert done["status"] == "done"

    async def both_copies_handled() -> bool:
        info = await bus.js.consumer_info("INTENTS", "lifecycle")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(both_copies_handled, what="the lifecycle consumer to ack both copies")
    assert await db.fetchval("SELECT count(*) FROM bots WHERE id = $1", intent.bot_id) == 1
    assert await db.fetchval("SELECT count(*) FROM processed_messages WHERE message_id = $1", intent.id) == 1
    assert await count_on_subject(bus.js, "EVENTS", intent_event_subject(intent.id, "done")) == 1
    assert await count_on_subject(bus.js, "EVENTS", f"events.bot.{intent.bot_id}.created") == 1


async def test_retried_request_with_idempotency_key_creates_one_bot(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection
) -> None:
    headers = {**auth, "Idempotency-Key": "wizard-submit-42"}
    first = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=headers)
    second = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    await intent_settled(api, auth, first.json()["intent_id"])
    assert len((await api.get("/api/v1/bots", headers=auth)).json()["bots"]) == 1

    other_key = await api.post("/api/v1/bots", json=VALID_PROFILE, headers={**auth, "Idempotency-Key": "another"})
    assert other_key.json()["bot_id"] != first.json()["bot_id"]
