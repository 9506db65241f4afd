"""Which subscription (and user hint) each handled Stripe event names, across API versions."""

from __future__ import annotations

from typing import Any

from workers.billing_stripe import subscription_ref


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_1", "type": kind, "data": {"object": obj}}


def test_checkout_names_its_subscription_and_the_client_reference() -> None:
    event = _event("checkout.session.completed", {"subscription": "sub_1", "client_reference_id": "u-1"})
    assert subscription_ref(event) == ("sub_1", "u-1")
    one_off = _event("checkout.session.completed", {"subscription": None, "metadata": {}})
    assert subscription_ref(one_off) == (None, None)


def test_subscription_events_name_themselves_and_their_metadata_user() -> None:
    event = _event("customer.subscription.deleted", {"id": "sub_2", "metadata": {"hmmtrade_user_id": "u-2"}})
    assert subscription_ref(event) == ("sub_2", "u-2")


def test_invoices_name_the_subscription_in_new_and_old_shapes() -> None:
    new = _event(
        "invoice.paid",
        {"parent": {"subscription_details": {"subscription": "sub_3", "metadata": {"hmmtrade_user_id": "u-3"}}}},
    )
    old = _event("invoice.payment_failed", {"subscription": {"id": "sub_4", "object": "subscription"}})
    assert subscription_ref(new) == ("sub_3", "u-3")
    assert subscription_ref(old) == ("sub_4", None)
    assert subscription_ref(_event("charge.refunded", {"id": "ch_1"})) == (None, None)
