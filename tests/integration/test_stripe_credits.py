"""Service credits on a customer's Stripe balance: our gateway, the official SDK, the emulator over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe

from billing.emulator import StripeEmulator
from billing.gateway import CustomerCredit, StripeNotFound, StripeRejected, StripeUnavailable
from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway, build_client

INCIDENT = {"hmmtrade_incident_id": "inc-7", "hmmtrade_user_id": "u-1"}


@pytest.fixture
def emulator() -> Iterator[StripeEmulator]:
    em = StripeEmulator().start()
    yield em
    em.stop()


def _settings(emulator: StripeEmulator) -> StripeSettings:
    return StripeSettings(STRIPE_API_BASE=emulator.url, STRIPE_MAX_NETWORK_RETRIES=2)


@pytest.fixture
async def gateway(emulator: StripeEmulator) -> AsyncIterator[StripeClientGateway]:
    gw = StripeClientGateway(_settings(emulator))
    yield gw
    await gw.close()


@contextlib.asynccontextmanager
async def _sdk(emulator: StripeEmulator) -> AsyncIterator[stripe.StripeClient]:
    """The official client on its own, for what our gateway does not ask (a customer's balance)."""
    client = build_client(_settings(emulator))
    yield client
    await StripeClientGateway(_settings(emulator), client).close()  # closes the client's httpx pool


async def _customer(gateway: StripeClientGateway, user_id: str = "u-1") -> str:
    return await gateway.create_customer(email=f"{user_id}@example.com", user_id=user_id, idempotency_key=user_id)


async def _credit(gateway: StripeClientGateway, customer: str, cents: int, key: str) -> CustomerCredit:
    return await gateway.credit_customer(
        customer_id=customer,
        amount_cents=cents,
        currency="usd",
        description="Service credit: Fly outage inc-7",
        metadata=INCIDENT,
        idempotency_key=key,
    )


async def test_a_credit_is_listed_with_what_was_sent(gateway: StripeClientGateway, emulator: StripeEmulator) -> None:
    customer = await _customer(gateway)
    credit = await _credit(gateway, customer, 1234, "credit-inc-7-u-1")
    assert credit.id.startswith("cbtxn_")
    assert (credit.customer_id, credit.amount_cents, credit.currency) == (customer, 1234, "usd")
    assert credit.description == "Service credit: Fly outage inc-7" and credit.metadata == INCIDENT
    assert credit.ending_balance_cents == 1234
    assert abs(credit.created - datetime.now(UTC)) < timedelta(minutes=1)
    assert await gateway.list_credits(customer) == [credit]
    # on the wire it is Stripe's sign: a negative adjustment, the customer's balance below zero
    raw = emulator.state.balance_transactions[credit.id]
    assert (raw["amount"], raw["type"], raw["ending_balance"]) == (-1234, "adjustment", -1234)
    assert ("POST", f"/v1/customers/{customer}/balance_transactions", "credit-inc-7-u-1") in emulator.requests


async def test_the_same_idempotency_key_credits_once(gateway: StripeClientGateway, emulator: StripeEmulator) -> None:
    customer = await _customer(gateway)
    first = await _credit(gateway, customer, 500, "credit-inc-7-u-1")
    again = await _credit(gateway, customer, 500, "credit-inc-7-u-1")
    assert again == first
    assert await gateway.list_credits(customer) == [first]
    assert again.ending_balance_cents == 500
    with pytest.raises(StripeRejected, match="same parameters"):  # the key reused for another amount
        await _credit(gateway, customer, 600, "credit-inc-7-u-1")
    assert len(emulator.state.balance_transactions) == 1


async def test_two_credits_add_up_on_the_customers_balance(
    gateway: StripeClientGateway, emulator: StripeEmulator
) -> None:
    customer = await _customer(gateway)
    other = await _customer(gateway, "u-2")
    await _credit(gateway, customer, 700, "credit-inc-7-u-1")
    second = await _credit(gateway, customer, 450, "credit-inc-8-u-1")
    await _credit(gateway, other, 99, "credit-inc-7-u-2")
    assert second.ending_balance_cents == 1150
    credits = await gateway.list_credits(customer)
    assert [c.amount_cents for c in credits] == [450, 700]  # newest first, the other customer's not among them
    assert [c.amount_cents for c in await gateway.list_credits(customer, limit=1)] == [450]
    async with _sdk(emulator) as sdk:
        seen = await sdk.v1.customers.retrieve_async(customer)
    assert (seen.balance, seen.currency) == (-1150, "usd")


async def test_an_unknown_customer_is_not_found(gateway: StripeClientGateway) -> None:
    with pytest.raises(StripeNotFound, match="No such customer: 'cus_missing'"):
        await _credit(gateway, "cus_missing", 100, "credit-missing")
    with pytest.raises(StripeNotFound, match="No such customer"):
        await gateway.list_credits("cus_missing")


@pytest.mark.parametrize("cents", [0, -100])
async def test_a_credit_that_is_not_positive_is_refused_before_any_request(
    gateway: StripeClientGateway, emulator: StripeEmulator, cents: int
) -> None:
    customer = await _customer(gateway)
    sent = len(emulator.requests)
    with pytest.raises(ValueError, match="positive"):
        await _credit(gateway, customer, cents, "credit-bad")
    assert len(emulator.requests) == sent
    assert await gateway.list_credits(customer) == []


async def test_the_emulator_refuses_what_stripe_refuses(gateway: StripeClientGateway, emulator: StripeEmulator) -> None:
    """Straight through the SDK: a zero amount, no amount, no currency."""
    customer = await _customer(gateway)
    bad: list[tuple[dict[str, object], str]] = [
        ({"amount": 0, "currency": "usd"}, "amount"),
        ({"currency": "usd"}, "amount"),
        ({"amount": -100}, "currency"),
    ]
    async with _sdk(emulator) as sdk:
        for params, param in bad:
            with pytest.raises(stripe.InvalidRequestError) as refused:
                await sdk.v1.customers.balance_transactions.create_async(customer, params)  # type: ignore[arg-type]
            assert (refused.value.http_status, refused.value.param) == (400, param)
    assert emulator.state.balance_transactions == {}


async def test_during_an_outage_stripe_is_unavailable_and_the_retry_credits_once(
    gateway: StripeClientGateway, emulator: StripeEmulator
) -> None:
    customer = await _customer(gateway)
    emulator.outage = True
    with pytest.raises(StripeUnavailable):
        await _credit(gateway, customer, 300, "credit-inc-7-u-1")
    with pytest.raises(StripeUnavailable):
        await gateway.list_credits(customer)
    emulator.outage = False
    credit = await _credit(gateway, customer, 300, "credit-inc-7-u-1")
    assert await gateway.list_credits(customer) == [credit]


async def test_credits_and_their_keys_survive_an_emulator_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "stripe.json"
    first = StripeEmulator(state_file=state_file).start()
    gateway = StripeClientGateway(_settings(first))
    customer = await _customer(gateway)
    credit = await _credit(gateway, customer, 2900, "credit-inc-7-u-1")
    await gateway.close()
    first.stop()

    second = StripeEmulator(state_file=state_file).start()
    gateway = StripeClientGateway(_settings(second))
    try:
        assert await gateway.list_credits(customer) == [credit]
        # a credit job re-run after the restart gets the same transaction back, not a second one
        assert await _credit(gateway, customer, 2900, "credit-inc-7-u-1") == credit
        later = await _credit(gateway, customer, 100, "credit-inc-8-u-1")
        assert later.ending_balance_cents == 3000
        async with _sdk(second) as sdk:
            assert (await sdk.v1.customers.retrieve_async(customer)).balance == -3000
    finally:
        await gateway.close()
        second.stop()
