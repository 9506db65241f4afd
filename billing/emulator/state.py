"""The emulator's objects and the events their changes emit.

Thread-safe (the HTTP server and the webhook sender use it from several threads). Each
state change appends an event to :attr:`StripeState.events` and hands it to
``on_event`` (the webhook sender). Object shapes follow Stripe's API version
``2025-03-31`` and later: the billing period sits on the subscription item and an
invoice names its subscription under ``parent.subscription_details``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from billing.gateway import PLAN_METADATA_KEY, USER_METADATA_KEY
from billing.settings import EMULATOR_PRICES

API_VERSION = "2026-10-28.endive"
MONTH_S = 30 * 86_400
PRICE_CENTS = {"pro": 2900, "team": 9900}
Json = dict[str, Any]


class EmulatorError(Exception):
    """A request Stripe would refuse: becomes a Stripe error body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def body(self) -> Json:
        error: Json = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def new_id(prefix: str) -> str:
    """An object id the way Stripe spells them: ``cus_…``, ``cbtxn_…``."""
    return f"{prefix}_{secrets.token_hex(12)}"


def no_such(kind: str, object_id: str, param: str = "id") -> EmulatorError:
    """Stripe's 404 ``resource_missing`` for ``kind``."""
    return EmulatorError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class StripeState:
    """Customers, prices, sessions, subscriptions, invoices, balance transactions and events, in memory."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()  # public for the helpers that work on these tables (balances.py)
        self._clock = clock
        self.customers: dict[str, Json] = {}
        self.prices: dict[str, Json] = {}
        self.checkout_sessions: dict[str, Json] = {}
        self.portal_sessions: dict[str, Json] = {}
        self.subscriptions: dict[str, Json] = {}
        self.invoices: dict[str, Json] = {}
        self.balance_transactions: dict[str, Json] = {}  # in creation order
        self.events: list[Json] = []
        self.on_event: Callable[[Json], None] = lambda _event: None
        for plan, price_id in EMULATOR_PRICES.items():
            self.add_price(price_id, plan)

    def now(self) -> int:
        return int(self._clock())

    # ---- objects ----------------------------------------------------------------------

    def add_price(self, price_id: str, plan: str) -> Json:
        with self.lock:
            price = {
                "id": price_id,
                "object": "price",
                "active": True,
                "currency": "usd",
                "unit_amount": PRICE_CENTS.get(plan, 1000),
                "type": "recurring",
                "recurring": {"interval": "month", "interval_count": 1},
                "product": f"prod_hmmtrade_{plan}",
                "lookup_key": f"hmmtrade_{plan}_monthly",
                "metadata": {PLAN_METADATA_KEY: plan},
                "livemode": False,
            }
            self.prices[price_id] = price
            return price

    def create_customer(self, params: Json) -> Json:
        with self.lock:
            customer: Json = {
                "id": new_id("cus"),
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": dict(params.get("metadata") or {}),
                "balance": 0,  # negative = credit the next invoices consume (balances.py)
                "currency": None,  # set by the first balance transaction (or, at Stripe, invoice)
                "created": self.now(),
                "livemode": False,
            }
            self.customers[customer["id"]] = customer
            return customer

    def get(self, kind: str, object_id: str) -> Json:
        table = {
            "customer": self.customers,
            "checkout.session": self.checkout_sessions,
            "subscription": self.subscriptions,
            "event": {e["id"]: e for e in self.events},
            "invoice": self.invoices,
        }[kind]
        with self.lock:
            found = table.get(object_id)
            if found is None:
                raise no_such(kind, object_id)
            return copy.deepcopy(found)

    def customer_by_email(self, email: str) -> Json | None:
        with self.lock:
            matches = [c for c in self.customers.values() if (c.get("email") or "").lower() == email.lower()]
            return matches[-1] if matches else None

    def create_checkout_session(self, params: Json, base_url: str) -> Json:
        with self.lock:
            if params.get("mode") != "subscription":
                raise EmulatorError(400, "The emulator supports mode=subscription only.", param="mode")
            customer = params.get("customer")
            if customer is not None and customer not in self.customers:
                raise no_such("customer", str(customer), "customer")
            items = params.get("line_items") or []
            price = str(items[0].get("price")) if len(items) == 1 else ""
            if price not in self.prices:
                raise no_such("price", price, "line_items[0][price]")
            for url in ("success_url", "cancel_url"):
                if not params.get(url):
                    raise EmulatorError(400, f"Missing required param: {url}.", code="parameter_missing", param=url)
            session_id = new_id("cs_test")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "customer": customer,
                "client_reference_id": params.get("client_reference_id"),
                "metadata": dict(params.get("metadata") or {}),
                "subscription": None,
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
                "url": f"{base_url}/checkout/{session_id}",
                "created": self.now(),
                "expires_at": self.now() + 86_400,
                "livemode": False,
                # kept for completion; Stripe does not echo these on the session
                "_price": price,
                "_subscription_metadata": dict((params.get("subscription_data") or {}).get("metadata") or {}),
            }
            self.checkout_sessions[session_id] = session
            return _public(session)

    def complete_checkout(self, session_id: str) -> Json:
        """The customer paid: subscription and invoice created, three events emitted."""
        with self.lock:
            session = self.checkout_sessions.get(session_id)
            if session is None:
                raise no_such("checkout.session", session_id)
            if session["status"] != "open":
                raise EmulatorError(400, f"This Checkout Session is already {session['status']}.")
            if session["customer"] is None:
                session["customer"] = self.create_customer({})["id"]
            sub = self._new_subscription(session["customer"], session["_price"], session["_subscription_metadata"])
            session.update(status="complete", payment_status="paid", subscription=sub["id"])
            self._emit("customer.subscription.created", sub)
            self._emit("invoice.paid", self.invoices[sub["latest_invoice"]])
            self._emit("checkout.session.completed", _public(session))
            return _public(session)

    def _new_subscription(self, customer_id: str, price_id: str, metadata: Json) -> Json:
        now = self.now()
        sub_id = new_id("sub")
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer_id,
            "status": "active",
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": new_id("si"),
                        "object": "subscription_item",
                        "price": copy.deepcopy(self.prices[price_id]),
                        "quantity": 1,
                        "current_period_start": now,
                        "current_period_end": now + MONTH_S,
                        "subscription": sub_id,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "metadata": dict(metadata),
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "created": now,
            "start_date": now,
            "latest_invoice": None,
            "livemode": False,
        }
        self.subscriptions[sub_id] = sub
        sub["latest_invoice"] = self._new_invoice(sub, paid=True)["id"]
        return sub

    def _new_invoice(self, sub: Json, *, paid: bool) -> Json:
        amount = sub["items"]["data"][0]["price"]["unit_amount"]
        invoice = {
            "id": new_id("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "status": "paid" if paid else "open",
            "currency": "usd",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "attempt_count": 1,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["id"], "metadata": dict(sub["metadata"])},
            },
            "created": self.now(),
            "livemode": False,
        }
        self.invoices[invoice["id"]] = invoice
        return invoice

    def create_portal_session(self, params: Json, base_url: str) -> Json:
        with self.lock:
            customer = params.get("customer")
            if not customer:
                raise EmulatorError(
                    400, "Missing required param: customer.", code="parameter_missing", param="customer"
                )
            if customer not in self.customers:
                raise no_such("customer", str(customer), "customer")
            session_id = new_id("bps")
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": customer,
                "return_url": params.get("return_url"),
                "url": f"{base_url}/portal/{session_id}",
                "created": self.now(),
                "livemode": False,
            }
            self.portal_sessions[session_id] = session
            return dict(session)

    def live_subscriptions(self, customer_id: str) -> list[Json]:
        with self.lock:
            return [
                copy.deepcopy(s)
                for s in self.subscriptions.values()
                if s["customer"] == customer_id and s["status"] != "canceled"
            ]

    def update_subscription(self, sub_id: str, params: Json) -> Json:
        with self.lock:
            sub = self._sub(sub_id)
            if sub["status"] == "canceled":
                raise EmulatorError(
                    400, "A canceled subscription can only update its cancellation_details and metadata."
                )
            previous: Json = {}
            if "cancel_at_period_end" in params:
                value = _bool(params["cancel_at_period_end"], "cancel_at_period_end")
                if value != sub["cancel_at_period_end"]:
                    previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
                    sub["cancel_at_period_end"] = value
            if "metadata" in params:
                previous["metadata"] = dict(sub["metadata"])
                sub["metadata"].update(params["metadata"] or {})
            items = params.get("items")
            if items:
                price_id = items[0].get("price")
                if price_id not in self.prices:
                    raise no_such("price", str(price_id), "items[0][price]")
                previous["items"] = copy.deepcopy(sub["items"])
                sub["items"]["data"][0]["price"] = copy.deepcopy(self.prices[price_id])
            self._emit("customer.subscription.updated", sub, previous_attributes=previous)
            return copy.deepcopy(sub)

    def cancel_subscription(self, sub_id: str) -> Json:
        with self.lock:
            sub = self._sub(sub_id)
            if sub["status"] == "canceled":
                raise EmulatorError(400, f"The subscription {sub_id} is already canceled.")
            sub.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
            self._emit("customer.subscription.deleted", sub)
            return copy.deepcopy(sub)

    def fail_payment(self, sub_id: str) -> Json:
        """The renewal charge failed: an open invoice, the subscription goes past_due."""
        with self.lock:
            sub = self._sub(sub_id)
            invoice = self._new_invoice(sub, paid=False)
            sub["latest_invoice"] = invoice["id"]
            previous = {"status": sub["status"]}
            sub["status"] = "past_due"
            self._emit("invoice.payment_failed", invoice)
            self._emit("customer.subscription.updated", sub, previous_attributes=previous)
            return copy.deepcopy(sub)

    def pay_latest_invoice(self, sub_id: str) -> Json:
        """The (retried) charge succeeded: the invoice is paid, the subscription active again."""
        with self.lock:
            sub = self._sub(sub_id)
            invoice = self.invoices[sub["latest_invoice"]]
            if invoice["status"] == "paid":
                invoice = self._new_invoice(sub, paid=True)
                sub["latest_invoice"] = invoice["id"]
            invoice.update(status="paid", amount_paid=invoice["amount_due"])
            self._emit("invoice.paid", invoice)
            if sub["status"] != "active":
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                self._emit("customer.subscription.updated", sub, previous_attributes=previous)
            return copy.deepcopy(sub)

    def _sub(self, sub_id: str) -> Json:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            raise no_such("subscription", sub_id)
        return sub

    # ---- events -----------------------------------------------------------------------

    def _emit(self, event_type: str, obj: Json, *, previous_attributes: Json | None = None) -> Json:
        data: Json = {"object": _public(copy.deepcopy(obj))}
        if previous_attributes:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "type": event_type,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
        }
        self.events.append(event)
        self.on_event(copy.deepcopy(event))
        return event

    def list_events(self, *, limit: int = 10, event_type: str | None = None, starting_after: str | None = None) -> Json:
        with self.lock:
            newest_first = [e for e in reversed(self.events) if event_type is None or e["type"] == event_type]
            if starting_after is not None:
                ids = [e["id"] for e in newest_first]
                if starting_after not in ids:
                    raise no_such("event", starting_after, "starting_after")
                newest_first = newest_first[ids.index(starting_after) + 1 :]
            page = newest_first[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(newest_first) > limit,
                "url": "/v1/events",
            }

    # ---- persistence (so `hmmtrade up` resumes with the same customers) ---------------------

    _TABLES = (
        "customers",
        "prices",
        "checkout_sessions",
        "portal_sessions",
        "subscriptions",
        "invoices",
        "balance_transactions",
    )

    def snapshot(self) -> Json:
        with self.lock:
            return copy.deepcopy({**{t: getattr(self, t) for t in self._TABLES}, "events": self.events})

    def restore(self, snapshot: Json) -> None:
        with self.lock:
            for table in self._TABLES:
                getattr(self, table).update(snapshot.get(table) or {})
            for customer in self.customers.values():  # saved before customers had a balance
                customer.setdefault("balance", 0)
                customer.setdefault("currency", None)
            self.events.extend(snapshot.get("events") or [])

    # ---- `stripe trigger` ---------------------------------------------------------------

    TRIGGERS = (
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_failed",
        "invoice.paid",
    )

    def trigger(self, event_type: str, *, email: str, plan: str = "pro", user_id: str | None = None) -> list[str]:
        """Bring about ``event_type`` for the customer with ``email``; returns the ids of the events emitted."""
        if event_type not in self.TRIGGERS:
            supported = ", ".join(self.TRIGGERS)
            raise EmulatorError(400, f"Cannot trigger {event_type!r}; supported: {supported}.", param="event")
        with self.lock:
            before = len(self.events)
            customer = self.customer_by_email(email)
            if customer is None:
                metadata = {USER_METADATA_KEY: user_id} if user_id else {}
                customer = self.create_customer({"email": email, "metadata": metadata})
            if event_type in ("checkout.session.completed", "customer.subscription.created"):
                price = EMULATOR_PRICES.get(plan)  # type: ignore[call-overload]
                if price is None:
                    raise EmulatorError(400, f"Unknown plan {plan!r}: use pro or team.", param="plan")
                owner = customer["metadata"].get(USER_METADATA_KEY)
                metadata = {PLAN_METADATA_KEY: plan, **({USER_METADATA_KEY: owner} if owner else {})}
                if event_type == "customer.subscription.created":
                    sub = self._new_subscription(customer["id"], price, metadata)
                    self._emit("customer.subscription.created", sub)
                    self._emit("invoice.paid", self.invoices[sub["latest_invoice"]])
                else:
                    session = self.create_checkout_session(
                        {
                            "mode": "subscription",
                            "customer": customer["id"],
                            "client_reference_id": owner,
                            "line_items": [{"price": price, "quantity": 1}],
                            "success_url": "http://127.0.0.1/success",
                            "cancel_url": "http://127.0.0.1/cancel",
                            "metadata": metadata,
                            "subscription_data": {"metadata": metadata},
                        },
                        "http://127.0.0.1",
                    )
                    self.complete_checkout(session["id"])
                return [e["id"] for e in self.events[before:]]
            live = self.live_subscriptions(customer["id"])
            if not live:
                raise EmulatorError(
                    400,
                    f"{email} has no live subscription: trigger checkout.session.completed first.",
                    param="email",
                )
            sub_id = live[-1]["id"]
            actions: dict[str, Callable[[], Json]] = {
                "customer.subscription.updated": lambda: self.update_subscription(
                    sub_id,
                    {"items": [{"price": EMULATOR_PRICES.get(plan, EMULATOR_PRICES["pro"])}]},  # type: ignore[call-overload]
                ),
                "customer.subscription.deleted": lambda: self.cancel_subscription(sub_id),
                "invoice.payment_failed": lambda: self.fail_payment(sub_id),
                "invoice.paid": lambda: self.pay_latest_invoice(sub_id),
            }
            actions[event_type]()
            return [e["id"] for e in self.events[before:]]


def _public(obj: Json) -> Json:
    """Without the emulator's private bookkeeping keys."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise EmulatorError(400, f"Invalid boolean: {value!r}", param=param)
