"""Customer balance transactions: the credit Stripe applies to a customer's next invoices.

``POST /v1/customers/{id}/balance_transactions`` adds an ``adjustment`` to the customer's
``balance`` (negative = credit the customer holds, Stripe's sign) and returns the
``customer_balance_transaction``; ``GET`` lists them newest first. The emulator keeps one
balance per customer in the customer's ``currency`` (set by the first transaction) and
refuses another currency, where Stripe would open a second balance in it; it has no invoices
that consume the balance, so every transaction it holds is an ``adjustment``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from billing.emulator.state import EmulatorError, Json, StripeState, new_id, no_such

_CURRENCY = re.compile(r"^[a-z]{3}$")


class CustomerBalances:
    """Balance transactions over a :class:`StripeState`'s customers (its lock, its tables)."""

    def __init__(self, state: StripeState) -> None:
        self._state = state

    def create(self, customer_id: str, params: Json) -> Json:
        amount = _amount(params.get("amount"))
        currency = _currency(params.get("currency"))
        state = self._state
        with state.lock:
            customer = state.customers.get(customer_id)
            if customer is None:
                raise no_such("customer", customer_id)
            held = customer.get("currency")
            if held is not None and held != currency:
                raise EmulatorError(
                    400,
                    f"This customer's balance is in {held}; the emulator keeps one balance per customer, "
                    f"so a transaction in {currency} is refused.",
                    param="currency",
                )
            customer["currency"] = currency
            customer["balance"] = int(customer.get("balance") or 0) + amount
            transaction: Json = {
                "id": new_id("cbtxn"),
                "object": "customer_balance_transaction",
                "amount": amount,
                "checkout_session": None,
                "created": state.now(),
                "credit_note": None,
                "currency": currency,
                "customer": customer_id,
                "customer_account": None,
                "description": params.get("description") or None,
                "ending_balance": customer["balance"],
                "invoice": None,
                "livemode": False,
                "metadata": dict(params.get("metadata") or {}),
                "type": "adjustment",
            }
            state.balance_transactions[transaction["id"]] = transaction
            return copy.deepcopy(transaction)

    def list(self, customer_id: str, params: Json) -> Json:
        limit = _limit(params.get("limit", 10))
        starting_after = params.get("starting_after")
        state = self._state
        with state.lock:
            if customer_id not in state.customers:
                raise no_such("customer", customer_id)
            newest_first = [t for t in reversed(state.balance_transactions.values()) if t["customer"] == customer_id]
            if starting_after is not None:
                ids = [t["id"] for t in newest_first]
                if starting_after not in ids:
                    raise no_such("customer_balance_transaction", str(starting_after), "starting_after")
                newest_first = newest_first[ids.index(starting_after) + 1 :]
            return {
                "object": "list",
                "data": copy.deepcopy(newest_first[:limit]),
                "has_more": len(newest_first) > limit,
                "url": f"/v1/customers/{customer_id}/balance_transactions",
            }


def _amount(value: Any) -> int:
    if value is None or value == "":
        raise EmulatorError(400, "Missing required param: amount.", code="parameter_missing", param="amount")
    amount = _integer(value, "amount")
    if amount == 0:
        raise EmulatorError(400, "The amount of a balance transaction must not be zero.", param="amount")
    return amount


def _currency(value: Any) -> str:
    if value is None or value == "":
        raise EmulatorError(400, "Missing required param: currency.", code="parameter_missing", param="currency")
    currency = str(value).lower()
    if not _CURRENCY.match(currency):
        raise EmulatorError(400, f"Invalid currency: {value}.", param="currency")
    return currency


def _limit(value: Any) -> int:
    limit = _integer(value, "limit")
    if not 1 <= limit <= 100:
        raise EmulatorError(400, "limit must be between 1 and 100.", param="limit")
    return limit


def _integer(value: Any, param: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise EmulatorError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None
