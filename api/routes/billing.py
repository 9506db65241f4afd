"""Billing: Checkout, the billing portal, the plan in force, and Stripe's webhook.

The webhook is verified on the raw body and bridged onto the bus
(``stripe.events.<type>``, ``Nats-Msg-Id`` = the Stripe event id, so Stripe's
redeliveries are stored once); the billing worker does the rest. It answers 200 as soon
as JetStream has the event, 400 (and publishes nothing) when the signature does not
hold, and 503 while the bus is down, so Stripe retries.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Request

from api.billing_state import Billing
from api.deps import CurrentUser, Db, State
from api.problems import ProblemError, problem_responses
from api.routes.bots import IdempotencyKey
from billing.gateway import BillingError, StripeNotFound, StripeUnavailable
from billing.plans import PLANS, plan
from billing.tiers import grace_ends_at
from billing.webhooks import InvalidSignature, verify
from contracts.billing import (
    BillingPublic,
    CheckoutRequest,
    CheckoutSessionPublic,
    PlanCatalog,
    PlanLimits,
    PlanPublic,
    PlanUsage,
    PortalSessionPublic,
    SubscriptionPublic,
    WebhookReceived,
)
from contracts.events import StripeEventReceived
from events.bus import BusUnavailable
from events.topology import stripe_subject
from store import billing as billing_store
from store.users import UserRow

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1", tags=["billing"])

_KEY_NS = uuid.UUID("0b6c55c1-8f7e-4a7d-9d43-6f0f3c1e2a90")
# Checked with fullmatch: with ``match`` and ``$``, "evt_1\n" passed (``$`` also matches
# before a trailing newline) and then broke the bus message (500) or its subject.
_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+){0,5}")


def _provider_problem(exc: BillingError) -> ProblemError:
    if isinstance(exc, StripeUnavailable):
        return ProblemError(
            503,
            "The payment provider is unavailable, so nothing was changed. Try again shortly.",
            headers={"Retry-After": "5"},
        )
    return ProblemError(502, f"The payment provider refused the request: {exc}")


def _idempotency_key(user: UserRow, key: str | None, purpose: str) -> str:
    # A client retry with the same Idempotency-Key reaches Stripe with the same key too.
    return f"hmmtrade-{purpose}-{uuid.uuid5(_KEY_NS, f'{user.id}:{key}') if key else uuid.uuid4()}"


async def _customer(db: Any, billing: Billing, user: UserRow, *, replace: str | None = None) -> str:
    """The user's Stripe customer, created once (a deterministic key makes a race create one)."""
    existing = await billing_store.customer_of(db, user.id)
    if existing is not None and existing != replace:
        return existing
    suffix = "" if replace is None else f"-after-{replace}"
    customer_id = await billing.gateway.create_customer(
        email=user.email, user_id=str(user.id), idempotency_key=f"hmmtrade-customer-{user.id}{suffix}"
    )
    if replace is not None:
        await db.execute("DELETE FROM billing_customers WHERE user_id = $1 AND customer_id = $2", user.id, replace)
    return await billing_store.save_customer(db, user.id, customer_id)


@router.post(
    "/billing/checkout",
    response_model=CheckoutSessionPublic,
    responses=problem_responses(400, 401, 409, 413, 422, 502, 503),
)
async def checkout(
    body: CheckoutRequest, user: CurrentUser, db: Db, billing: Billing, idempotency_key: IdempotencyKey = None
) -> CheckoutSessionPublic:
    """Start paying for ``pro`` or ``team``: answers the Stripe Checkout URL to send the user to."""
    live = [s for s in await billing_store.subscriptions_of(db, user.id) if s.state != "canceled"]
    if live:
        raise ProblemError(
            409,
            f"You already subscribe to {live[-1].plan}: change or cancel it in the billing portal "
            "(POST /api/v1/billing/portal).",
        )
    base = billing.settings.public_url.rstrip("/")
    key = _idempotency_key(user, idempotency_key, f"checkout-{body.plan}")
    try:
        customer_id = await _customer(db, billing, user)
        try:
            session = await billing.gateway.create_checkout_session(
                customer_id=customer_id,
                price_id=billing.settings.price_for(body.plan),
                user_id=str(user.id),
                plan=body.plan,
                success_url=f"{base}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{base}/billing?checkout=canceled",
                idempotency_key=key,
            )
        except StripeNotFound:
            # The customer is gone on Stripe's side (deleted, or a fresh emulator): make a new one.
            customer_id = await _customer(db, billing, user, replace=customer_id)
            session = await billing.gateway.create_checkout_session(
                customer_id=customer_id,
                price_id=billing.settings.price_for(body.plan),
                user_id=str(user.id),
                plan=body.plan,
                success_url=f"{base}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{base}/billing?checkout=canceled",
                idempotency_key=f"{key}-{customer_id}",
            )
    except BillingError as exc:
        log.warning("billing.checkout_failed", error=str(exc))
        raise _provider_problem(exc) from exc
    log.info("billing.checkout_started", plan=body.plan, session_id=session.id)
    return CheckoutSessionPublic(session_id=session.id, url=session.url)


@router.post("/billing/portal", response_model=PortalSessionPublic, responses=problem_responses(401, 409, 502, 503))
async def portal(user: CurrentUser, db: Db, billing: Billing) -> PortalSessionPublic:
    """Manage the subscription (card, plan, cancel) in Stripe's billing portal: answers its URL."""
    customer_id = await billing_store.customer_of(db, user.id)
    if customer_id is None:
        raise ProblemError(409, "You have no billing account yet: subscribe first (POST /api/v1/billing/checkout).")
    try:
        url = await billing.gateway.create_portal_session(
            customer_id=customer_id,
            return_url=f"{billing.settings.public_url.rstrip('/')}/billing",
            idempotency_key=f"hmmtrade-portal-{uuid.uuid4()}",
        )
    except BillingError as exc:
        log.warning("billing.portal_failed", error=str(exc))
        raise _provider_problem(exc) from exc
    return PortalSessionPublic(url=url)


@router.get("/plans", response_model=PlanCatalog)
async def plans() -> PlanCatalog:
    """Every plan with its price and limits (public: the pricing page reads it)."""
    return PlanCatalog(
        plans=[
            PlanPublic(
                name=p.name,
                title=p.title,
                monthly_usd=p.monthly_usd,
                limits=PlanLimits(
                    max_bots=p.max_bots, max_hosted_bots=p.max_hosted_bots, hosted_allowed=p.hosted_allowed
                ),
            )
            for p in PLANS.values()
        ]
    )


@router.get("/billing", response_model=BillingPublic, responses=problem_responses(401, 503))
async def billing_overview(user: CurrentUser, db: Db) -> BillingPublic:
    """Your plan, its limits, what you use of them, and the subscription behind it."""
    usage = await billing_store.usage(db, user.id)
    subs = await billing_store.subscriptions_of(db, user.id)
    live = [s for s in subs if s.state != "canceled"]
    current = (live or subs)[-1] if subs else None
    p = plan(usage.tier)
    return BillingPublic(
        plan=p.name,
        status="none" if current is None else current.state,
        limits=PlanLimits(max_bots=p.max_bots, max_hosted_bots=p.max_hosted_bots, hosted_allowed=p.hosted_allowed),
        usage=PlanUsage(bots=usage.bots, hosted_bots=usage.hosted_bots),
        subscription=None
        if current is None
        else SubscriptionPublic(
            id=current.id,
            plan=current.plan,
            status=current.stripe_status,
            current_period_end=current.current_period_end,
            cancel_at_period_end=current.cancel_at_period_end,
        ),
        grace_ends_at=None if current is None else grace_ends_at(current),
    )


_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "description": "A Stripe event, exactly as Stripe sent it (the signature covers these bytes).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/stripe/webhook",
    response_model=WebhookReceived,
    responses=problem_responses(400, 413, 422, 503),
    openapi_extra=_WEBHOOK_BODY,
)
async def stripe_webhook(
    request: Request,
    state: State,
    billing: Billing,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature", max_length=4096)] = None,
) -> WebhookReceived:
    """Stripe calls this. The event is checked against ``STRIPE_WEBHOOK_SECRET`` and put on the bus."""
    secret = billing.settings.webhook_secret
    if secret is None:
        raise ProblemError(503, "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET).")
    raw = await request.body()
    try:
        event = verify(
            raw, stripe_signature, secret.get_secret_value(), tolerance_s=billing.settings.webhook_tolerance_s
        )
    except InvalidSignature as exc:
        log.warning("stripe.webhook_refused", reason=str(exc))
        raise ProblemError(400, f"Webhook refused: {exc}.") from exc
    event_id, event_type = event["id"], event["type"]
    if not _EVENT_ID.fullmatch(event_id):
        raise ProblemError(400, "Webhook refused: the event id is not of the form evt_… (letters, digits, _).")
    if not _EVENT_TYPE.fullmatch(event_type):
        raise ProblemError(400, "Webhook refused: the event type is not of the form noun.verb (a-z, 0-9, _, dots).")
    structlog.contextvars.bind_contextvars(stripe_event_id=event_id)
    created = event.get("created")
    message = StripeEventReceived(
        id=event_id,
        correlation_id=event_id,
        stripe_type=event_type,
        payload=event,
        occurred_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else datetime.now(UTC),
    )
    try:
        ack = await state.bus.publish(stripe_subject(event_type), message)
    except BusUnavailable as exc:
        log.warning("stripe.webhook_not_published", error=str(exc))
        raise ProblemError(
            503, "The message bus is unavailable; Stripe will deliver this event again.", headers={"Retry-After": "5"}
        ) from exc
    log.info("stripe.webhook_received", type=event_type, duplicate=bool(ack.duplicate))
    return WebhookReceived(event_id=event_id, duplicate=bool(ack.duplicate))
