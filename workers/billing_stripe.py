"""The Stripe bridge: verified Stripe events (``stripe.events.*``) -> billing intents.

Stripe delivers events more than once and in any order, so an event is only a hint
that a subscription changed: the handler re-fetches the subscription from Stripe, mirrors
it into ``subscriptions``, and emits ``intents.billing.activated|past_due|canceled`` only
when our state for it changes. Three events of one purchase yield one ``activated``; a
``deleted`` handled before an older ``updated`` leaves it canceled. Each event id is
recorded in the idempotency ledger inside the same transaction, with the intent it
emitted, which a redelivery re-publishes (same id, de-duplicated by JetStream).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from billing.gateway import USER_METADATA_KEY, StripeNotFound, StripeRejected, StripeUnavailable, Subscription
from billing.tiers import BillingState, state_of
from contracts.envelope import Envelope
from contracts.events import StripeEventReceived
from contracts.intents import BillingActivated, BillingCanceled, BillingPastDue
from events.bus import MSG_ID, TYPE_HEADER
from events.consume import MalformedMessage, PermanentError, TransientError
from events.topology import BILLING_STRIPE, intent_subject
from store import billing as billing_store
from store import ledger
from workers.billing_deps import BillingDeps

log = structlog.get_logger(__name__)

CONSUMER = BILLING_STRIPE.durable
HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)


class _AlreadyHandled(Exception):
    pass


def subscription_ref(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(subscription id, user id hint) named by a Stripe event of a type we handle."""
    obj = (event.get("data") or {}).get("object") or {}
    kind = str(event.get("type"))
    metadata = obj.get("metadata") or {}
    if kind == "checkout.session.completed":
        return _str(obj.get("subscription")), _str(obj.get("client_reference_id") or metadata.get(USER_METADATA_KEY))
    if kind.startswith("customer.subscription."):
        return _str(obj.get("id")), _str(metadata.get(USER_METADATA_KEY))
    if kind.startswith("invoice."):
        details = ((obj.get("parent") or {}).get("subscription_details")) or {}
        sub = obj.get("subscription") or details.get("subscription")  # older API versions: top level
        return _str(sub), _str((details.get("metadata") or {}).get(USER_METADATA_KEY))
    return None, None


def _str(value: Any) -> str | None:
    if isinstance(value, dict):  # an expanded object
        value = value.get("id")
    return None if value in (None, "") else str(value)


def parse(data: bytes) -> StripeEventReceived:
    try:
        return StripeEventReceived.model_validate_json(data)
    except ValidationError as exc:
        raise MalformedMessage(str(exc.errors()[:3])) from exc


async def handle(msg: Msg, deps: BillingDeps) -> None:
    received = parse(msg.data)
    structlog.contextvars.bind_contextvars(stripe_event_id=received.id, correlation_id=received.correlation_id)
    outcome: list[dict[str, Any]] | None = None
    if msg.metadata.num_delivered > 1:
        outcome = await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=received.id)
    replay = outcome is not None
    if outcome is None:
        outcome, replay = await _reconcile(received, deps)
    await asyncio.gather(
        *(
            deps.bus.publish_raw(e["subject"], e["payload"].encode(), headers={MSG_ID: e["id"], TYPE_HEADER: e["type"]})
            for e in outcome
        )
    )
    log.info(
        "stripe.event_handled",
        stripe_type=received.stripe_type,
        replay=replay,
        emitted=[e["type"] for e in outcome],
    )


async def _reconcile(received: StripeEventReceived, deps: BillingDeps) -> tuple[list[dict[str, Any]], bool]:
    event = received.payload
    if received.stripe_type not in HANDLED:
        return [], False
    sub_id, hint = subscription_ref(event)
    if sub_id is None:
        return [], False  # e.g. a one-off payment's checkout: nothing of ours changes
    try:
        sub = await deps.gateway.retrieve_subscription(sub_id)  # the truth now, whatever order events came in
    except StripeNotFound as exc:
        raise PermanentError(f"subscription {sub_id} does not exist at Stripe") from exc
    except StripeUnavailable as exc:
        raise TransientError(str(exc)) from exc
    except StripeRejected as exc:
        raise PermanentError(f"Stripe refused to show subscription {sub_id}: {exc}") from exc
    plan = deps.stripe.plan_for_price(sub.price_id or "")
    if plan is None:
        raise PermanentError(f"subscription {sub.id} is for price {sub.price_id}, which is not one of our plans")
    state = state_of(sub.status)
    if state is None:
        return [], False  # incomplete: the first payment is not through; a later event will say how it ended
    user_id = await _resolve_user(sub, hint, deps)
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            await billing_store.lock_tier(conn, user_id)  # one billing change per user at a time
            previous = await billing_store.subscription_for_update(conn, sub.id)
            past_due_since = None
            if state == "past_due":
                kept = previous.past_due_since if previous is not None and previous.state == "past_due" else None
                past_due_since = kept or deps.clock()
            await billing_store.upsert_subscription(
                conn,
                subscription_id=sub.id,
                user_id=user_id,
                customer_id=sub.customer_id,
                plan=plan,
                stripe_status=sub.status,
                state=state,
                current_period_end=sub.current_period_end,
                cancel_at_period_end=sub.cancel_at_period_end,
                past_due_since=past_due_since,
                event_id=received.id,
            )
            changed = previous is None or previous.state != state or (state == "active" and previous.plan != plan)
            intent = _intent(received, state, user_id, sub, plan) if changed else None
            outcome = [] if intent is None else [_emit(intent)]
            if not await ledger.record(conn, consumer=CONSUMER, message_id=received.id, outcome=outcome):
                raise _AlreadyHandled
    except _AlreadyHandled:
        return await ledger.outcome_of(deps.pool, consumer=CONSUMER, message_id=received.id) or [], True
    return outcome, False


def _intent(
    received: StripeEventReceived, state: BillingState, user_id: uuid.UUID, sub: Subscription, plan: str
) -> Envelope:
    common: dict[str, Any] = {
        "user_id": user_id,
        "subscription_id": sub.id,
        "correlation_id": received.correlation_id,
    }
    if state == "active":
        return BillingActivated(id=f"{received.id}:billing.activated", plan=plan, **common)
    if state == "past_due":
        return BillingPastDue(id=f"{received.id}:billing.past_due", **common)
    return BillingCanceled(id=f"{received.id}:billing.canceled", reason="subscription canceled", **common)


def _emit(intent: Envelope) -> dict[str, Any]:
    return {
        "subject": intent_subject(intent.type),
        "id": intent.id,
        "type": intent.type,
        "payload": intent.model_dump_json(),
    }


async def _resolve_user(sub: Subscription, hint: str | None, deps: BillingDeps) -> uuid.UUID:
    """Our user behind a subscription: its metadata, the event's hint, the customer row, the customer's email."""
    for candidate in (sub.user_id, hint):
        try:
            user_id = uuid.UUID(str(candidate)) if candidate else None
        except ValueError:
            user_id = None
        if user_id is not None and await billing_store.user_exists(deps.pool, user_id):
            return user_id
    by_customer = await billing_store.user_of_customer(deps.pool, sub.customer_id)
    if by_customer is not None:
        return by_customer
    try:
        email = await deps.gateway.customer_email(sub.customer_id)
    except StripeUnavailable as exc:
        raise TransientError(str(exc)) from exc
    except StripeRejected:
        email = None
    by_email = None if email is None else await billing_store.user_by_email(deps.pool, email)
    if by_email is None:
        raise PermanentError(f"no HMM Trade user for Stripe customer {sub.customer_id} (subscription {sub.id})")
    return by_email
