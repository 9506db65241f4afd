"""The Stripe gateway port: the few Stripe calls HMM Trade makes, in our own terms.

Errors the adapters raise (vendor exceptions are translated at the adapter's edge)::

    BillingError
    ├── StripeUnavailable    network failure, timeout, 5xx, 429, a refused API key: retry later
    └── StripeRejected       Stripe said no to this request (4xx): retrying the same will not help
        └── StripeNotFound   the object does not exist (``resource_missing``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

USER_METADATA_KEY = "hmmtrade_user_id"
PLAN_METADATA_KEY = "hmmtrade_plan"


class BillingError(Exception):
    """Base of the gateway's errors; the message is safe to show (never a key)."""


class StripeUnavailable(BillingError):
    pass


class StripeRejected(BillingError):
    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class StripeNotFound(StripeRejected):
    pass


@dataclass(frozen=True)
class Subscription:
    """A Stripe subscription as billing needs it."""

    id: str
    customer_id: str
    status: str  # Stripe's: active, trialing, past_due, unpaid, canceled, incomplete, incomplete_expired, paused
    price_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False

    @property
    def user_id(self) -> str | None:
        return self.metadata.get(USER_METADATA_KEY)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class CustomerCredit:
    """One transaction on a customer's Stripe balance, in our sign convention.

    Stripe counts a credit as a negative ``amount`` and a customer holding credit as a negative
    ``ending_balance``; here both are negated so that positive means money in the customer's
    favour: ``amount_cents`` is what this transaction credited (negative if it consumed credit,
    e.g. an invoice the balance paid), ``ending_balance_cents`` the credit left afterwards.
    """

    id: str
    customer_id: str
    amount_cents: int
    currency: str
    description: str
    metadata: dict[str, str]
    created: datetime
    ending_balance_cents: int


class StripeGateway(Protocol):
    """What billing asks of Stripe. Every POST carries an idempotency key."""

    async def create_customer(self, *, email: str, user_id: str, idempotency_key: str) -> str:
        """A new customer for ``user_id``; returns its id."""
        ...

    async def customer_email(self, customer_id: str) -> str | None: ...

    async def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        user_id: str,
        plan: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession: ...

    async def create_portal_session(self, *, customer_id: str, return_url: str, idempotency_key: str) -> str:
        """A billing-portal session; returns its URL."""
        ...

    async def retrieve_subscription(self, subscription_id: str) -> Subscription: ...

    async def update_subscription(
        self, subscription_id: str, *, cancel_at_period_end: bool, idempotency_key: str
    ) -> Subscription: ...

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> Subscription: ...

    async def credit_customer(
        self,
        *,
        customer_id: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> CustomerCredit:
        """Credit ``amount_cents`` (> 0, else ``ValueError`` and nothing is sent) to the customer's
        balance; Stripe applies it to their next invoice(s). The same key gives the same credit."""
        ...

    async def list_credits(self, customer_id: str, *, limit: int = 100) -> list[CustomerCredit]:
        """The customer's latest balance transactions (1 <= limit <= 100), newest first."""
        ...

    async def list_events(self, *, limit: int = 10, event_type: str | None = None) -> list[dict[str, Any]]:
        """The most recent events, newest first, as Stripe JSON."""
        ...

    async def close(self) -> None: ...
