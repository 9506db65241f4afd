"""The :class:`~billing.gateway.StripeGateway` adapter on stripe-python's ``StripeClient``.

Async calls over httpx; network retries on (``max_network_retries``), and every POST
carries an idempotency key chosen by the caller, which the library reuses across its
retries, so a retried create never makes two objects. ``STRIPE_API_BASE`` points every
service (api, files, connect) at another server, e.g. the local emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import stripe

from billing.gateway import (
    PLAN_METADATA_KEY,
    USER_METADATA_KEY,
    CheckoutSession,
    CustomerCredit,
    StripeNotFound,
    StripeRejected,
    StripeUnavailable,
    Subscription,
)
from billing.settings import StripeSettings
from metrics import observe

if TYPE_CHECKING:
    from stripe.params import CustomerBalanceTransactionCreateParams


def build_client(settings: StripeSettings) -> stripe.StripeClient:
    base = {} if settings.api_base is None else {"api": settings.api_base, "files": settings.api_base}
    return stripe.StripeClient(
        settings.secret_key.get_secret_value(),
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=settings.max_network_retries,
        http_client=stripe.HTTPXClient(timeout=settings.timeout_s),
    )


def _translate(exc: stripe.StripeError) -> Exception:
    message = exc.user_message or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.AuthenticationError):
        return StripeUnavailable(f"Stripe is unreachable or refused the request: {message}")
    status = exc.http_status
    if status is None or status >= 500 or status == 409:
        return StripeUnavailable(f"Stripe failed: {message}")
    if exc.code == "resource_missing" or status == 404:
        return StripeNotFound(message, code=exc.code, status=status)
    return StripeRejected(message, code=exc.code, status=status)


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def subscription_from(data: dict[str, Any]) -> Subscription:
    """A :class:`Subscription` from Stripe JSON (``items.data[0].price.id`` is the plan)."""
    items = (data.get("items") or {}).get("data") or []
    price = items[0].get("price") if items else None
    period_end = data.get("current_period_end") or (items[0].get("current_period_end") if items else None)
    customer = data.get("customer")
    return Subscription(
        id=str(data["id"]),
        customer_id=str(customer["id"] if isinstance(customer, dict) else customer),
        status=str(data.get("status")),
        price_id=None if price is None else str(price["id"] if isinstance(price, dict) else price),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        current_period_end=_when(period_end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
    )


def credit_from(data: dict[str, Any]) -> CustomerCredit:
    """A :class:`CustomerCredit` from a Stripe ``customer_balance_transaction`` (signs flipped)."""
    customer = data.get("customer")
    return CustomerCredit(
        id=str(data["id"]),
        customer_id=str(customer["id"] if isinstance(customer, dict) else customer),
        amount_cents=-int(data["amount"]),
        currency=str(data["currency"]),
        description=str(data.get("description") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        created=datetime.fromtimestamp(int(data["created"]), UTC),
        ending_balance_cents=-int(data["ending_balance"]),
    )


class StripeClientGateway:
    """Talks to Stripe (or the emulator) through ``stripe.StripeClient``."""

    def __init__(self, settings: StripeSettings, client: stripe.StripeClient | None = None) -> None:
        self._client = client or build_client(settings)

    @observe.vendor_call("stripe", "create_customer")
    async def create_customer(self, *, email: str, user_id: str, idempotency_key: str) -> str:
        try:
            customer = await self._client.v1.customers.create_async(
                {"email": email, "metadata": {USER_METADATA_KEY: user_id}},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return str(customer.id)

    @observe.vendor_call("stripe", "customer_email")
    async def customer_email(self, customer_id: str) -> str | None:
        try:
            customer = await self._client.v1.customers.retrieve_async(customer_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        email = customer.to_dict().get("email")
        return None if email is None else str(email)

    @observe.vendor_call("stripe", "create_checkout_session")
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
    ) -> CheckoutSession:
        metadata = {USER_METADATA_KEY: user_id, PLAN_METADATA_KEY: plan}
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": user_id,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "metadata": metadata,
                    "subscription_data": {"metadata": metadata},
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        if not session.url:
            raise StripeRejected("Stripe returned a Checkout Session without a URL")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    @observe.vendor_call("stripe", "create_portal_session")
    async def create_portal_session(self, *, customer_id: str, return_url: str, idempotency_key: str) -> str:
        try:
            session = await self._client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url}, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return str(session.url)

    @observe.vendor_call("stripe", "retrieve_subscription")
    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        try:
            sub = await self._client.v1.subscriptions.retrieve_async(subscription_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return subscription_from(sub.to_dict())

    @observe.vendor_call("stripe", "update_subscription")
    async def update_subscription(
        self, subscription_id: str, *, cancel_at_period_end: bool, idempotency_key: str
    ) -> Subscription:
        try:
            sub = await self._client.v1.subscriptions.update_async(
                subscription_id,
                {"cancel_at_period_end": cancel_at_period_end},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return subscription_from(sub.to_dict())

    @observe.vendor_call("stripe", "cancel_subscription")
    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> Subscription:
        try:
            sub = await self._client.v1.subscriptions.cancel_async(
                subscription_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return subscription_from(sub.to_dict())

    @observe.vendor_call("stripe", "credit_customer")
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
        if amount_cents <= 0:
            raise ValueError(f"a credit must be a positive number of cents, not {amount_cents}")
        params: CustomerBalanceTransactionCreateParams = {
            "amount": -amount_cents,  # Stripe's sign: negative is credit the next invoices consume
            "currency": currency.lower(),
            "description": description,
            "metadata": metadata,
        }
        try:
            transaction = await self._client.v1.customers.balance_transactions.create_async(
                customer_id, params, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return credit_from(transaction.to_dict())

    @observe.vendor_call("stripe", "list_credits")
    async def list_credits(self, customer_id: str, *, limit: int = 100) -> list[CustomerCredit]:
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, not {limit}")
        try:
            page = await self._client.v1.customers.balance_transactions.list_async(customer_id, {"limit": limit})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return [credit_from(transaction.to_dict()) for transaction in page.data]

    @observe.vendor_call("stripe", "list_events")
    async def list_events(self, *, limit: int = 10, event_type: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if event_type is not None:
            params["type"] = event_type
        try:
            page = await self._client.v1.events.list_async(params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return [event.to_dict() for event in page.data]

    async def close(self) -> None:
        # The httpx client belongs to stripe's HTTPXClient; it has no public close in 16.x.
        http = getattr(self._client._requestor, "_client", None)
        inner = getattr(http, "_client_async", None)
        if inner is not None:
            await inner.aclose()
