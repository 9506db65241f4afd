"""The billing consumer: ``intents.billing.*`` -> the user's tier, and stops for hosted bots it no longer covers.

The tier is recomputed from the subscription mirror each time (the best plan in force:
active, or past due within the grace period), so applying an intent twice or late gives
the same tier. When the new tier covers fewer hosted bots than the user has, the worker
publishes one ``intents.bot.stop`` per bot it must stop, with an id derived from the billing
intent and the bot (a redelivery stops nothing twice) and a reason the user sees as the
bot's ``status_reason``. Machines are stopped, not deleted: profile, data and audit stay,
and a paid plan lets the user start them again.

``sweep_grace`` ends the grace period of subscriptions past due for longer than it: it
publishes ``billing.canceled`` for them (id derived from the subscription and when it
fell due, so a repeated sweep publishes the same intent).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from nats.aio.msg import Msg
from pydantic import TypeAdapter, ValidationError

from billing.plans import plan
from billing.tiers import tier_from
from contracts.intents import BillingActivated, BillingCanceled, BillingIntent, BillingPastDue, StopBot
from events.bus import MSG_ID, TYPE_HEADER
from events.consume import MalformedMessage, settle
from events.pull import BatchPuller
from events.topology import BILLING, BILLING_STRIPE, intent_subject
from metrics import observe
from store import billing as billing_store
from store import ledger
from workers import billing_stripe
from workers.billing_deps import BillingDeps

log = structlog.get_logger(__name__)

CONSUMER = BILLING.durable
_STOP_NS = uuid.UUID("c7d3e0a2-5b41-4f8e-8a36-1e9d2f7b4c55")
_INTENT: TypeAdapter[BillingActivated | BillingCanceled | BillingPastDue] = TypeAdapter(BillingIntent)


class _AlreadyHandled(Exception):
    pass


def parse(data: bytes) -> BillingActivated | BillingCanceled | BillingPastDue:
    try:
        return _INTENT.validate_json(data)
    except ValidationError as exc:
        raise MalformedMessage(str(exc.errors()[:3])) from exc


def stop_intent_id(billing_intent_id: str, bot_id: uuid.UUID) -> str:
    return str(uuid.uuid5(_STOP_NS, f"{billing_intent_id}:{bot_id}"))


async def handle(msg: Msg, deps: BillingDeps) -> None:
    intent = parse(msg.data)
    structlog.contextvars.bind_contextvars(intent_id=intent.id, correlation_id=intent.correlation_id)
    outcome: list[dict[str, Any]] | None = None
    if msg.metadata.num_delivered > 1:
        outcome = await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=intent.id)
    replay = outcome is not None
    tier = None
    if outcome is None:
        outcome, replay, tier = await _apply(intent, deps)
    await deps.failpoints.hit("billing.before_publish")  # committed (tier, ledger), stops not yet sent
    await asyncio.gather(
        *(
            deps.bus.publish_raw(e["subject"], e["payload"].encode(), headers={MSG_ID: e["id"], TYPE_HEADER: e["type"]})
            for e in outcome
        )
    )
    await deps.failpoints.hit("billing.before_ack")  # everything done but the ack
    if replay:
        observe.ledger_replay(CONSUMER)
    log.info("billing.intent_handled", kind=intent.type, tier=tier, stops=len(outcome), replay=replay)


async def _apply(
    intent: BillingActivated | BillingCanceled | BillingPastDue, deps: BillingDeps
) -> tuple[list[dict[str, Any]], bool, str | None]:
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            before = await billing_store.lock_tier(conn, intent.user_id)
            outcome: list[dict[str, Any]] = []
            tier = None
            if before is not None:  # else the account was deleted: nothing to do
                tier = tier_from(await billing_store.subscriptions_of(conn, intent.user_id), deps.clock(), deps.grace)
                await billing_store.set_tier(conn, intent.user_id, tier)
                hosted = await billing_store.hosted_bots(conn, intent.user_id)
                allowed = plan(tier).max_hosted_bots
                # Keep the oldest bots the plan covers; stop the rest (all of them on free).
                reason = _reason(intent, tier)
                for bot_id in hosted[allowed:]:
                    stop = StopBot(
                        id=stop_intent_id(intent.id, bot_id),
                        user_id=intent.user_id,
                        bot_id=bot_id,
                        reason=reason,
                        correlation_id=intent.correlation_id,
                    )
                    outcome.append(
                        {
                            "subject": intent_subject(stop.type),
                            "id": stop.id,
                            "type": stop.type,
                            "payload": stop.model_dump_json(),
                        }
                    )
            if not await ledger.record(conn, consumer=CONSUMER, message_id=intent.id, outcome=outcome):
                raise _AlreadyHandled
    except _AlreadyHandled:
        return await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=intent.id) or [], True, None
    return outcome, False, tier


def _reason(intent: BillingActivated | BillingCanceled | BillingPastDue, tier: str) -> str:
    if isinstance(intent, BillingCanceled):
        return intent.reason
    if isinstance(intent, BillingPastDue):
        return "payment overdue: the grace period ended"
    return f"the {tier} plan covers {plan(tier).max_hosted_bots} hosted bots"


async def sweep_grace(deps: BillingDeps) -> int:
    """Publish ``billing.canceled`` for every subscription whose grace period is over; returns how many."""
    now = deps.clock()
    ended = await billing_store.grace_ended(deps.pool, now - deps.grace)
    days = deps.grace.total_seconds() / 86_400
    for sub in ended:
        assert sub.past_due_since is not None
        intent = BillingCanceled(
            id=f"grace:{sub.id}:{int(sub.past_due_since.timestamp())}",
            user_id=sub.user_id,
            subscription_id=sub.id,
            reason=f"payment overdue: the {days:g}-day grace period ended",
            correlation_id=sub.last_event_id,
        )
        # Publish first: if marking fails, the next sweep publishes the same id again (harmless).
        await deps.bus.publish(intent_subject(intent.type), intent)
        await billing_store.mark_grace_expired(deps.pool, sub.id, now)
        log.info("billing.grace_ended", subscription_id=sub.id, user_id=str(sub.user_id))
    return len(ended)


@dataclass
class BillingRuntime:
    """The two billing consumers and the grace sweeper of one worker process."""

    deps: BillingDeps
    stripe_events: BatchPuller
    intents: BatchPuller
    sweeper: asyncio.Task[None]

    async def stop(self) -> None:
        self.sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sweeper
        await self.stripe_events.stop()
        await self.intents.stop()
        await self.deps.gateway.close()


async def _settle_each(batch: list[Msg], *, deps: BillingDeps, consumer: Any, handler: Any) -> None:
    for msg in batch:
        structlog.contextvars.clear_contextvars()
        await settle(msg, partial(handler, deps=deps), bus=deps.bus, consumer=consumer)


async def _sweep_forever(deps: BillingDeps, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep_grace(deps)
        except Exception:  # the next sweep tries again
            log.exception("billing.sweep_failed")


def start_billing(deps: BillingDeps, *, sweep_interval_s: float = 60.0) -> BillingRuntime:
    stripe_events = BatchPuller(
        deps.bus,
        BILLING_STRIPE,
        partial(_settle_each, deps=deps, consumer=BILLING_STRIPE, handler=billing_stripe.handle),
        batch_size=32,
    )
    intents = BatchPuller(
        deps.bus, BILLING, partial(_settle_each, deps=deps, consumer=BILLING, handler=handle), batch_size=32
    )
    stripe_events.start()
    intents.start()
    sweeper = asyncio.create_task(_sweep_forever(deps, sweep_interval_s), name="billing-grace-sweeper")
    return BillingRuntime(deps=deps, stripe_events=stripe_events, intents=intents, sweeper=sweeper)
