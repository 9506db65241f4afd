"""HTTP bodies of the billing routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import Contract
from contracts.intents import Plan


class CheckoutRequest(Contract):
    plan: Literal["pro", "team"] = Field(description="The paid plan to subscribe to.")


class CheckoutSessionPublic(Contract):
    session_id: str
    url: str = Field(description="Send the user here (Stripe Checkout) to pay.")


class PortalSessionPublic(Contract):
    url: str = Field(description="Send the user here (Stripe's billing portal) to change or cancel.")


class PlanLimits(Contract):
    max_bots: int
    max_hosted_bots: int
    hosted_allowed: bool


class PlanUsage(Contract):
    bots: int
    hosted_bots: int


class SubscriptionPublic(Contract):
    id: str
    plan: Literal["pro", "team"]
    status: str = Field(description="Stripe's subscription status.")
    current_period_end: datetime | None
    cancel_at_period_end: bool


class PlanPublic(Contract):
    """One plan as the pricing page shows it."""

    name: Plan
    title: str
    monthly_usd: int
    limits: PlanLimits


class PlanCatalog(Contract):
    plans: list[PlanPublic]


class BillingPublic(Contract):
    plan: Plan = Field(description="The plan in force.")
    status: Literal["none", "active", "past_due", "canceled"] = Field(
        description="`none`: never subscribed; `past_due`: a payment failed, the plan holds until `grace_ends_at`."
    )
    limits: PlanLimits
    usage: PlanUsage
    subscription: SubscriptionPublic | None = None
    grace_ends_at: datetime | None = None


class WebhookReceived(Contract):
    received: Literal[True] = True
    event_id: str
    duplicate: bool = Field(description="The bus already held this event (a redelivery).")
