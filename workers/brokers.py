"""The brokers consumer: ``intents.broker.{connect,revoke}`` -> ``broker_connections``.

The API sealed the secret before publishing; this worker only stores the envelope (it
never holds a KMS client, so it never sees plaintext) or shreds it. Like lifecycle,
each intent is projected and recorded in the idempotency ledger in one transaction
with the events it emits, so a redelivery changes nothing and re-publishes the same
events (de-duplicated by id).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import structlog
from nats.aio.msg import Msg
from pydantic import TypeAdapter, ValidationError

from contracts.events import IntentDone, IntentFailed
from contracts.intents import BrokerIntent, ConnectBroker, RevokeBroker
from events.bus import MSG_ID, TYPE_HEADER, Bus
from events.consume import MalformedMessage, TransientError, settle
from events.topology import BROKERS, intent_event_subject
from metrics import observe
from store import connections, intents, ledger
from store.connections import SealedColumns

log = structlog.get_logger(__name__)

CONSUMER = BROKERS.durable
_INTENT: TypeAdapter[ConnectBroker | RevokeBroker] = TypeAdapter(BrokerIntent)


@dataclass(frozen=True)
class BrokerDeps:
    pool: asyncpg.Pool
    bus: Bus


class _Refused(Exception):
    """Well-formed but not doable (another user's connection id, a revoked connection)."""


def parse_broker_intent(data: bytes) -> ConnectBroker | RevokeBroker:
    try:
        return _INTENT.validate_json(data)
    except ValidationError as exc:
        # only locations and messages: a sealed envelope's fields never reach a log or the DLQ reason
        parts = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()[:5]]
        raise MalformedMessage("; ".join(parts)) from None


def _columns(intent: ConnectBroker) -> SealedColumns | None:
    sealed = intent.sealed
    if sealed is None:
        return None
    try:
        return SealedColumns(
            ciphertext=base64.b64decode(sealed.ciphertext_b64, validate=True),
            wrapped_key=base64.b64decode(sealed.wrapped_key_b64, validate=True),
            iv=base64.b64decode(sealed.iv_b64, validate=True),
            tag=base64.b64decode(sealed.tag_b64, validate=True),
            kms_key_id=sealed.kms_key_id,
            scheme_version=sealed.scheme_version,
        )
    except ValueError:
        raise MalformedMessage("sealed: a field is not base64") from None


async def _project(conn: Any, intent: ConnectBroker | RevokeBroker) -> None:
    if isinstance(intent, ConnectBroker):
        if intent.kind != "paper" and intent.sealed is None:
            raise _Refused(f"a {intent.kind} connection needs sealed credentials")
        inserted = await connections.insert_connection(
            conn,
            connection_id=intent.connection_id,
            user_id=intent.user_id,
            kind=intent.kind,
            label=intent.label,
            sealed=_columns(intent),
            paper=intent.paper,
            exchange=intent.exchange,
        )
        if not inserted:
            existing = await connections.get_connection(conn, intent.connection_id)
            if existing is None or existing.user_id != intent.user_id:
                raise _Refused("a broker connection with this id already exists")
            if existing.status == "revoked":
                raise _Refused("this broker connection was revoked")
        return
    row = await connections.get_connection(conn, intent.connection_id)
    if row is None:
        raise TransientError(f"broker connection {intent.connection_id} is not known yet")  # connect in flight
    if row.user_id != intent.user_id:
        raise _Refused("broker connection not found")
    await connections.shred(conn, intent.connection_id)


async def handle(msg: Msg, deps: BrokerDeps) -> None:
    intent = parse_broker_intent(msg.data)
    structlog.contextvars.bind_contextvars(
        intent_id=intent.id, connection_id=str(intent.connection_id), correlation_id=intent.correlation_id
    )
    outcome = await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=intent.id)
    replay = outcome is not None
    if outcome is None:
        async with deps.pool.acquire() as conn, conn.transaction():
            try:
                await _project(conn, intent)
                event: IntentDone | IntentFailed = IntentDone(
                    id=f"{intent.id}:done", intent_id=intent.id, kind=intent.type, correlation_id=intent.correlation_id
                )
                status, error = "done", None
            except _Refused as refused:
                event = IntentFailed(
                    id=f"{intent.id}:failed",
                    intent_id=intent.id,
                    kind=intent.type,
                    error=str(refused),
                    correlation_id=intent.correlation_id,
                )
                status, error = "failed", str(refused)
            await intents.record_outcome(
                conn,
                intent_id=intent.id,
                user_id=intent.user_id,
                kind=intent.type,
                bot_id=None,
                status=status,
                error=error,
            )
            outcome = [
                {
                    "subject": intent_event_subject(intent.id, status),
                    "id": event.id,
                    "type": event.type,
                    "payload": event.model_dump_json(),
                }
            ]
            if not await ledger.record(conn, consumer=CONSUMER, message_id=intent.id, outcome=outcome):
                raise TransientError("another delivery is handling this intent")  # rolls back; the retry replays
    await asyncio.gather(
        *(
            deps.bus.publish_raw(e["subject"], e["payload"].encode(), headers={MSG_ID: e["id"], TYPE_HEADER: e["type"]})
            for e in outcome
        )
    )
    if replay:
        observe.ledger_replay(CONSUMER)
    log.info("intent.handled", kind=intent.type, replay=replay)


async def give_up(msg: Msg, reason: str, deps: BrokerDeps) -> None:
    """Every delivery failed: mark the intent failed so the user sees why."""
    try:
        intent = parse_broker_intent(msg.data)
    except MalformedMessage:
        return
    await intents.record_outcome(
        deps.pool,
        intent_id=intent.id,
        user_id=intent.user_id,
        kind=intent.type,
        bot_id=None,
        status="failed",
        error=reason,
    )
    failed = IntentFailed(
        id=f"{intent.id}:failed",
        intent_id=intent.id,
        kind=intent.type,
        error=reason,
        correlation_id=intent.correlation_id,
    )
    await deps.bus.publish(intent_event_subject(intent.id, "failed"), failed)


async def handle_batch(batch: list[Msg], deps: BrokerDeps) -> None:
    """Broker intents are rare: each one on the careful path, in stream order."""
    for msg in batch:
        structlog.contextvars.clear_contextvars()
        await settle(
            msg, partial(handle, deps=deps), bus=deps.bus, consumer=BROKERS, on_give_up=partial(give_up, deps=deps)
        )
