"""The brokers worker: a duplicate connect stores one row, a revoke that arrives before its
connect waits for it, and a malformed broker intent is dead-lettered with its reason."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from contracts.intents import ConnectBroker, RevokeBroker, SealedSecret
from events.bus import MSG_ID, Bus, envelope_headers
from events.topology import intent_event_subject, intent_subject
from tests.busutil import count_on_subject, messages_on
from tests.conftest import intent_settled, wait_for


async def _user_id(api: httpx.AsyncClient, auth: dict[str, str]) -> uuid.UUID:
    return uuid.UUID((await api.get("/api/v1/me", headers=auth)).json()["id"])


def _sealed() -> SealedSecret:
    return SealedSecret(
        ciphertext_b64="AAAA",
        wrapped_key_b64="AAAA",
        iv_b64="AAAAAAAAAAAAAAAA",
        tag_b64="AAAAAAAAAAAAAAAAAAAAAA==",
        kms_key_id="projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        scheme_version=1,
    )


async def test_a_connect_delivered_twice_stores_one_connection(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    intent = ConnectBroker(
        user_id=await _user_id(api, auth), connection_id=uuid.uuid4(), kind="alpaca", label="dup", sealed=_sealed()
    )
    await bus.publish(intent_subject(intent.type), intent)
    # a copy past the duplicate window: another Nats-Msg-Id, the same intent
    await bus.publish_raw(
        intent_subject(intent.type),
        intent.model_dump_json().encode(),
        headers={**envelope_headers(intent), MSG_ID: f"{intent.id}-late-copy"},
    )
    assert (await intent_settled(api, auth, intent.id))["status"] == "done"

    async def both_handled() -> bool:
        info = await bus.js.consumer_info("INTENTS", "brokers")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(both_handled, what="the brokers consumer to ack both copies")
    assert await db.fetchval("SELECT count(*) FROM broker_connections WHERE id = $1", intent.connection_id) == 1
    assert await db.fetchval("SELECT count(*) FROM processed_messages WHERE message_id = $1", intent.id) == 1
    assert await count_on_subject(bus.js, "EVENTS", intent_event_subject(intent.id, "done")) == 1


async def test_a_connect_for_an_id_another_user_owns_fails_and_changes_nothing(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    from tests.conftest import signup_and_login

    owner = await _user_id(api, auth)
    first = ConnectBroker(user_id=owner, connection_id=uuid.uuid4(), kind="alpaca", label="mine", sealed=_sealed())
    await bus.publish(intent_subject(first.type), first)
    assert (await intent_settled(api, auth, first.id))["status"] == "done"
    other_auth = await signup_and_login(api)
    hijack = ConnectBroker(
        user_id=await _user_id(api, other_auth),
        connection_id=first.connection_id,
        kind="paper",
        label="theirs",
    )
    await bus.publish(intent_subject(hijack.type), hijack)
    failed = await intent_settled(api, other_auth, hijack.id)
    assert failed["status"] == "failed" and "already exists" in failed["error"]
    row = await db.fetchrow("SELECT user_id, label FROM broker_connections WHERE id = $1", first.connection_id)
    assert (row["user_id"], row["label"]) == (owner, "mine")


async def test_a_revoke_that_overtakes_its_connect_waits_for_it(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    user_id, connection_id = await _user_id(api, auth), uuid.uuid4()
    revoke = RevokeBroker(user_id=user_id, connection_id=connection_id)
    await bus.publish(intent_subject(revoke.type), revoke)
    connect = ConnectBroker(user_id=user_id, connection_id=connection_id, kind="alpaca", label="l", sealed=_sealed())
    await bus.publish(intent_subject(connect.type), connect)
    assert (await intent_settled(api, auth, revoke.id, timeout_s=30))["status"] == "done"
    row = await db.fetchrow("SELECT status, wrapped_key FROM broker_connections WHERE id = $1", connection_id)
    assert row["status"] == "revoked" and row["wrapped_key"] is None


async def test_a_malformed_broker_intent_is_dead_lettered_without_its_envelope_in_the_reason(
    workers: Any, bus: Bus
) -> None:
    bad = (
        b'{"id": "bad-broker-1", "type": "broker.connect", "user_id": "nope", "sealed": {"ciphertext_b64": "c2VjcmV0"}}'
    )
    await bus.publish_raw("intents.broker.connect", bad, headers={MSG_ID: "bad-broker-1"})

    async def dead_letter() -> list[tuple[str, dict[str, Any]]] | None:
        letters = await messages_on(bus.js, "DLQ", "dlq.intents.broker.>")
        return letters or None

    [(_subject, letter)] = await wait_for(dead_letter, what="the dead letter")
    assert "malformed message" in letter["reason"] and "user_id" in letter["reason"]
    assert "c2VjcmV0" not in letter["reason"]
