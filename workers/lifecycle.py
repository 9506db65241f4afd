"""The lifecycle consumer: ``intents.bot.*`` -> the bots projection and outcome events.

``bot.rearm`` changes no row: its effect is a ``RearmRequest`` put on the bot's
``<bot_id>.rearm`` key in ``bot_state``, published with the outcome events (and so replayed
with them); the bot applies each request id once.

Each intent is recorded in the idempotency ledger inside the same transaction as its
projection, together with the events it emits. A redelivered intent
(crash before ack, duplicate publish outside the window) re-publishes those saved
events with the same ids, which JetStream de-duplicates, and changes nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from nats.aio.msg import Msg
from pydantic import TypeAdapter, ValidationError

from contracts.envelope import Envelope
from contracts.events import BotEvent, BotStatus, IntentDone, IntentFailed
from contracts.intents import BotIntent, CreateBot, DeleteBot, RearmBot, RearmRequest, StartBot, StopBot
from events.bus import MSG_ID, TYPE_HEADER, Bus
from events.consume import MalformedMessage, TransientError
from events.topology import LIFECYCLE, bot_event_subject, intent_event_subject, rearm_request_subject
from metrics import observe
from store import bots, intents, ledger
from store.intents import Outcome
from workers.failpoints import Failpoints
from workers.lease import Fence
from workers.limits import refuse_create, refuse_start
from workers.machine_identity import revoke_machine_tokens

log = structlog.get_logger(__name__)

CONSUMER = LIFECYCLE.durable
_BOT_INTENT: TypeAdapter[BotIntent] = TypeAdapter(BotIntent)
AnyBotIntent = CreateBot | StartBot | StopBot | DeleteBot | RearmBot


@dataclass(frozen=True)
class Emit:
    """An event to publish once the projection has committed."""

    subject: str
    message: Envelope

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "id": self.message.id,
            "type": self.message.type,
            "payload": self.message.model_dump_json(),
        }


@dataclass(frozen=True)
class LifecycleDeps:
    pool: asyncpg.Pool
    bus: Bus
    failpoints: Failpoints
    fence: Fence | None = None  # with several worker replicas: the lease this one projects under
    ack_wait_s: float = LIFECYCLE.ack_wait_s  # the deployment's: deliveries held longer are told in progress

    async def check_fence(self, conn: Any) -> None:
        """In a projection's transaction: stop if another replica has taken the consumer over."""
        if self.fence is not None:
            await self.fence.check(conn)


class IntentRefused(Exception):
    """The intent is well-formed but cannot be carried out (e.g. the bot was deleted)."""


def parse_bot_intent(data: bytes) -> AnyBotIntent:
    try:
        return _BOT_INTENT.validate_json(data)
    except ValidationError as exc:
        raise MalformedMessage(_summarise(exc)) from exc


def _summarise(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)


class _AlreadyHandled(Exception):
    """Another delivery of the same intent committed first."""


async def handle(msg: Msg, deps: LifecycleDeps) -> None:
    intent = parse_bot_intent(msg.data)
    structlog.contextvars.bind_contextvars(
        intent_id=intent.id, bot_id=str(intent.bot_id), correlation_id=intent.correlation_id
    )
    outcome = None
    if msg.metadata.num_delivered > 1:  # a redelivery: the first attempt may have committed
        outcome = await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=intent.id)
    replay = outcome is not None
    if outcome is None:
        outcome, replay = await _project_once(intent, deps)
    await deps.failpoints.hit("lifecycle.before_publish")
    await asyncio.gather(
        *(
            deps.bus.publish_raw(e["subject"], e["payload"].encode(), headers={MSG_ID: e["id"], TYPE_HEADER: e["type"]})
            for e in outcome
        )
    )
    await deps.failpoints.hit("lifecycle.before_ack")
    if replay:
        observe.ledger_replay(CONSUMER)
    log.info("intent.handled", kind=intent.type, replay=replay)


async def _project_once(intent: AnyBotIntent, deps: LifecycleDeps) -> tuple[list[dict[str, Any]], bool]:
    """Apply the intent and record it in the ledger in one transaction; (events, replayed)."""
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            await deps.check_fence(conn)
            outcome = [emit.to_json() for emit in await apply(conn, intent)]
            await deps.failpoints.hit("lifecycle.in_transaction")
            if not await ledger.record(conn, consumer=CONSUMER, message_id=intent.id, outcome=outcome):
                raise _AlreadyHandled  # rolls back this attempt's projection
    except _AlreadyHandled:
        return await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=intent.id) or [], True
    return outcome, False


@dataclass(frozen=True)
class Projection:
    """An intent projected onto the bots table: its outcome row (not written yet) and the events to publish."""

    outcome: Outcome
    emits: list[Emit]


async def apply(conn: Any, intent: AnyBotIntent) -> list[Emit]:
    """Project one intent and record its outcome; returns the events to publish. Runs inside the ledger transaction."""
    projection = await project(conn, intent)
    await intents.record_outcomes(conn, [projection.outcome])
    return projection.emits


async def project(conn: Any, intent: AnyBotIntent) -> Projection:
    """Change the bots projection for one intent; the caller writes ``outcome`` (one row per intent, batchable).

    Raises ``TransientError`` before writing anything when the intent must wait.
    """
    try:
        if isinstance(intent, RearmBot):
            return Projection(_outcome(intent, "done"), await _rearm(conn, intent))
        status, reason = await _project(conn, intent)
    except IntentRefused as refused:
        return Projection(_outcome(intent, "failed", str(refused)), [_failed(intent, str(refused))])
    what = _EVENT_FOR[intent.type]
    event = BotEvent(
        id=f"{intent.id}:{what}",
        type=f"bot.{what}",
        bot_id=intent.bot_id,
        user_id=intent.user_id,
        status=status,
        intent_id=intent.id,
        reason=reason,
        correlation_id=intent.correlation_id,
    )
    done = IntentDone(
        id=f"{intent.id}:done", intent_id=intent.id, kind=intent.type, correlation_id=intent.correlation_id
    )
    return Projection(
        _outcome(intent, "done"),
        [Emit(bot_event_subject(intent.bot_id, what), event), Emit(intent_event_subject(intent.id, "done"), done)],
    )


def _outcome(intent: AnyBotIntent, status: str, error: str | None = None) -> Outcome:
    return Outcome(
        intent_id=intent.id, user_id=intent.user_id, kind=intent.type, bot_id=intent.bot_id, status=status, error=error
    )


async def _rearm(conn: Any, intent: RearmBot) -> list[Emit]:
    """Leave the bot a re-arm request; it reads the key before its next decision."""
    bot = await bots.get_bot(conn, intent.bot_id)
    if bot is None:
        raise TransientError(f"bot {intent.bot_id} is not known yet")
    if bot.user_id != intent.user_id:
        raise IntentRefused("bot not found")
    if bot.status == "deleted":
        raise IntentRefused("the bot was deleted")
    request = RearmRequest(
        id=intent.id, bot_id=intent.bot_id, occurred_at=intent.occurred_at, correlation_id=intent.correlation_id
    )
    done = IntentDone(
        id=f"{intent.id}:done", intent_id=intent.id, kind=intent.type, correlation_id=intent.correlation_id
    )
    return [Emit(rearm_request_subject(intent.bot_id), request), Emit(intent_event_subject(intent.id, "done"), done)]


_EVENT_FOR = {"bot.create": "created", "bot.start": "started", "bot.stop": "stopped", "bot.delete": "deleted"}


async def _project(conn: Any, intent: AnyBotIntent) -> tuple[BotStatus, str | None]:
    if isinstance(intent, CreateBot):
        profile = intent.profile
        refused = await refuse_create(
            conn, user_id=intent.user_id, bot_id=intent.bot_id, surface=profile.basics.surface
        )
        if refused is not None:
            raise IntentRefused(refused)
        inserted = await bots.insert_bot(
            conn,
            bot_id=intent.bot_id,
            user_id=intent.user_id,
            name=profile.basics.name,
            surface=profile.basics.surface,
            mode=profile.basics.mode,
            status="stopped",
            profile=profile.model_dump(mode="json"),
        )
        if not inserted:
            existing = await bots.get_bot(conn, intent.bot_id)
            if existing is None or existing.user_id != intent.user_id:
                raise IntentRefused("a bot with this id already exists")
        return "stopped", None

    bot = await bots.get_bot_for_update(conn, intent.bot_id)
    if bot is None:
        # The create may still be in flight (another worker, or a redelivery): retry.
        raise TransientError(f"bot {intent.bot_id} is not known yet")
    if bot.user_id != intent.user_id:
        raise IntentRefused("bot not found")
    if bot.status == "deleted":
        if isinstance(intent, DeleteBot):
            return "deleted", bot.status_reason
        raise IntentRefused("the bot was deleted")

    if isinstance(intent, StartBot):
        refused = await refuse_start(conn, user_id=intent.user_id, surface=bot.surface)
        if refused is not None:
            raise IntentRefused(refused)
        new_status: BotStatus = bot.status if bot.status in ("starting", "running") else "starting"  # type: ignore[assignment]
        reason = None
    elif isinstance(intent, StopBot):
        new_status, reason = "stopped", intent.reason
    else:
        new_status, reason = "deleted", "deleted by user"
    await bots.set_status(conn, intent.bot_id, new_status, reason)
    if new_status in ("stopped", "deleted"):
        # a stopped or deleted bot's machine may not fetch its profile or broker keys again
        await revoke_machine_tokens(conn, intent.bot_id, f"bot {new_status}")
    return new_status, reason


def _failed(intent: Envelope, error: str) -> Emit:
    event = IntentFailed(
        id=f"{intent.id}:failed",
        intent_id=intent.id,
        kind=intent.type,
        error=error,
        correlation_id=intent.correlation_id,
    )
    return Emit(intent_event_subject(intent.id, "failed"), event)


async def give_up(msg: Msg, reason: str, deps: LifecycleDeps) -> None:
    """Every delivery failed: mark the intent failed so the user sees why."""
    try:
        intent = parse_bot_intent(msg.data)
    except MalformedMessage:
        return  # nothing addressable to mark; the dead letter carries the reason
    await intents.record_outcome(
        deps.pool,
        intent_id=intent.id,
        user_id=intent.user_id,
        kind=intent.type,
        bot_id=intent.bot_id,
        status="failed",
        error=reason,
    )
    emit = _failed(intent, reason)
    await deps.bus.publish(emit.subject, emit.message)
