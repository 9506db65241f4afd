"""Messages that cannot be processed land in the DLQ with the reason; consumers keep going."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx

from events.bus import MSG_ID, Bus
from tests.busutil import messages_on
from tests.conftest import VALID_PROFILE, intent_settled, wait_for


async def test_malformed_intent_is_dead_lettered_and_the_consumer_keeps_going(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus
) -> None:
    await bus.publish_raw("intents.bot.create", b"{this is not json", headers={MSG_ID: "garbage-1", "X-Origin": "test"})
    missing_profile = {
        "id": str(uuid.uuid4()),
        "type": "bot.create",
        "user_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
    }
    await bus.publish_raw(
        "intents.bot.create", httpx.Response(200, json=missing_profile).content, headers={MSG_ID: "missing-profile-1"}
    )

    async def two_dead_letters() -> list[tuple[str, dict[str, Any]]] | None:
        letters = await messages_on(bus.js, "DLQ", "dlq.>")
        return letters if len(letters) >= 2 else None

    letters = await wait_for(two_dead_letters, what="two dead letters")
    by_id = {letter["original_headers"][MSG_ID]: (subject, letter) for subject, letter in letters}

    subject, garbage = by_id["garbage-1"]
    assert subject == "dlq.intents.bot.create"
    assert garbage["original_subject"] == "intents.bot.create"
    assert garbage["original_headers"]["X-Origin"] == "test"
    assert garbage["reason"].startswith("malformed message")
    assert base64.b64decode(garbage["payload_b64"]) == b"{this is not json"
    assert garbage["stream"] == "INTENTS" and garbage["deliveries"] == 1 and garbage["consumer"] == "lifecycle"

    _, incomplete = by_id["missing-profile-1"]
    assert "profile" in incomplete["reason"] and "Field required" in incomplete["reason"]

    # the consumer is still healthy: a good intent after the bad ones is carried out
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    assert (await intent_settled(api, auth, created.json()["intent_id"]))["status"] == "done"


async def test_malformed_audit_record_is_dead_lettered(workers: Any, bus: Bus) -> None:
    bot_id = uuid.uuid4()
    await bus.publish_raw(f"bots.{bot_id}.audit", b'{"seq": "not a number"}', headers={MSG_ID: "bad-audit-1"})

    async def dead_letter() -> list[tuple[str, dict[str, Any]]] | None:
        return await messages_on(bus.js, "DLQ", f"dlq.bots.{bot_id}.audit") or None

    [(_, letter)] = await wait_for(dead_letter, what="the audit dead letter")
    assert letter["consumer"] == "audit-ingest"
    assert "malformed audit record" in letter["reason"] and "seq" in letter["reason"]
