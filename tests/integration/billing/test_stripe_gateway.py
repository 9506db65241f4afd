"""The stripe-python adapter against the emulator: idempotency keys, retries, errors, persistence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from billing.emulator import StripeEmulator
from billing.gateway import StripeNotFound, StripeRejected, StripeUnavailable
from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway
from events.embedded import free_port


@pytest.fixture
def emulator() -> Iterator[StripeEmulator]:
    em = StripeEmulator().start()
    yield em
    em.stop()


@pytest.fixture
async def gateway(emulator: StripeEmulator) -> AsyncIterator[StripeClientGateway]:
    gw = StripeClientGateway(StripeSettings(STRIPE_API_BASE=emulator.url, STRIPE_MAX_NETWORK_RETRIES=2))
    yield gw
    await gw.close()


async def _checkout(gateway: StripeClientGateway, customer: str, key: str = "cs-1") -> str:
    session = await gateway.create_checkout_session(
        customer_id=customer,
        price_id="price_hmmtrade_pro",
        user_id="u-1",
        plan="pro",
        success_url="http://app/ok",
        cancel_url="http://app/no",
        idempotency_key=key,
    )
    return session.id


async def test_every_post_carries_the_idempotency_key_we_chose(
    gateway: StripeClientGateway, emulator: StripeEmulator
) -> None:
    customer = await gateway.create_customer(email="a@example.com", user_id="u-1", idempotency_key="cus-1")
    session_id = await _checkout(gateway, customer)
    await gateway.create_portal_session(customer_id=customer, return_url="http://app", idempotency_key="portal-1")
    emulator.state.complete_checkout(session_id)
    sub_id = emulator.state.checkout_sessions[session_id]["subscription"]
    await gateway.update_subscription(sub_id, cancel_at_period_end=True, idempotency_key="upd-1")
    posts = [(path, key) for method, path, key in emulator.requests if method == "POST"]
    assert posts == [
        ("/v1/customers", "cus-1"),
        ("/v1/checkout/sessions", "cs-1"),
        ("/v1/billing_portal/sessions", "portal-1"),
        (f"/v1/subscriptions/{sub_id}", "upd-1"),
    ]
    canceled = await gateway.cancel_subscription(sub_id, idempotency_key="del-1")
    assert canceled.status == "canceled" and canceled.cancel_at_period_end and canceled.user_id == "u-1"
    types = [e["type"] for e in await gateway.list_events(limit=3)]
    assert types == ["customer.subscription.deleted", "customer.subscription.updated", "checkout.session.completed"]
    assert [e["type"] for e in await gateway.list_events(event_type="invoice.paid")] == ["invoice.paid"]


async def test_a_lost_response_is_retried_with_the_same_key_and_creates_one_customer(
    gateway: StripeClientGateway, emulator: StripeEmulator
) -> None:
    emulator.lose_next_responses(2)  # the work is done, but two answers in a row never arrive
    customer = await gateway.create_customer(email="b@example.com", user_id="u-2", idempotency_key="cus-2")
    assert list(emulator.state.customers) == [customer]
    assert [key for method, _, key in emulator.requests if method == "POST"] == ["cus-2"] * 3
    # a client retry later with the same key is answered from Stripe's idempotency cache too
    assert await gateway.create_customer(email="b@example.com", user_id="u-2", idempotency_key="cus-2") == customer
    assert len(emulator.state.customers) == 1


async def test_stripe_errors_become_our_errors_with_stripes_message(
    gateway: StripeClientGateway, emulator: StripeEmulator
) -> None:
    with pytest.raises(StripeNotFound, match="No such subscription: 'sub_missing'"):
        await gateway.retrieve_subscription("sub_missing")
    customer = await gateway.create_customer(email="c@example.com", user_id="u-3", idempotency_key="c3")
    with pytest.raises(StripeNotFound, match="No such price"):
        await gateway.create_checkout_session(
            customer_id=customer,
            price_id="price_nope",
            user_id="u-3",
            plan="pro",
            success_url="http://a",
            cancel_url="http://b",
            idempotency_key="cs-x",
        )
    with pytest.raises(StripeRejected, match="same parameters"):  # a key reused for another request
        await gateway.create_customer(email="other@example.com", user_id="u-9", idempotency_key="c3")
    wrong_key = StripeClientGateway(StripeSettings(STRIPE_API_BASE=emulator.url, STRIPE_SECRET_KEY="sk_test_wrong"))
    with pytest.raises(StripeUnavailable, match="Invalid API Key"):
        await wrong_key.retrieve_subscription("sub_x")
    await wrong_key.close()


async def test_an_unreachable_stripe_is_unavailable_after_the_retries() -> None:
    gateway = StripeClientGateway(
        StripeSettings(STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}", STRIPE_MAX_NETWORK_RETRIES=1)
    )
    with pytest.raises(StripeUnavailable, match="unreachable"):
        await gateway.create_customer(email="d@example.com", user_id="u-4", idempotency_key="c4")
    await gateway.close()


async def test_the_emulator_keeps_its_objects_across_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "stripe.json"
    first = StripeEmulator(state_file=state_file).start()
    gateway = StripeClientGateway(StripeSettings(STRIPE_API_BASE=first.url))
    customer = await gateway.create_customer(email="e@example.com", user_id="u-5", idempotency_key="c5")
    await gateway.close()
    first.stop()
    second = StripeEmulator(state_file=state_file).start()
    gateway = StripeClientGateway(StripeSettings(STRIPE_API_BASE=second.url))
    assert await gateway.customer_email(customer) == "e@example.com"
    await gateway.close()
    second.stop()
