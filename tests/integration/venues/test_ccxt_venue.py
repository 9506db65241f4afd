"""CcxtVenue against the exchange emulator: the port's answers and its error classes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.integration.venues.exchange_fixtures import KEY, SECRET, START, control, emulator, orders_with_client_id
from trader.venue import (
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    UnknownSymbol,
    VenueAuthError,
    VenueError,
    VenueUnavailable,
)
from trader.venues.ccxt_venue import CcxtVenue
from venues.exchange import ExchangeEmulator

__all__ = ["emulator"]


@pytest_asyncio.fixture
async def venue(emulator: ExchangeEmulator) -> AsyncIterator[CcxtVenue]:
    v = CcxtVenue.create("binance", KEY, SECRET, base_url=emulator.url, symbols=["BTC/USDT", "ETH/USDT"])
    yield v
    await v.close()


def market_buy(client_order_id: str, quantity: float = 0.01, symbol: str = "BTC/USDT") -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id, symbol=symbol, side="buy", quantity=quantity)


async def test_rules_match_exchange_info(venue: CcxtVenue) -> None:
    rules = await venue.rules("BTC/USDT")
    assert (rules.min_quantity, rules.quantity_step, rules.min_notional, rules.price_tick) == (
        0.00001,
        0.00001,
        5.0,
        0.01,
    )
    assert rules.tradable
    eth = await venue.rules("ETH/USDT")
    assert (eth.min_quantity, eth.quantity_step) == (0.0001, 0.0001)


async def test_clock_is_the_emulators_sim_time(venue: CcxtVenue) -> None:
    clock = await venue.clock()
    assert clock.now == START and clock.is_open


async def test_bars_are_closed_ordered_and_paged(venue: CcxtVenue) -> None:
    hourly = await venue.bars("BTC/USDT", "1h", START - timedelta(hours=50))
    assert [b.start for b in hourly] == [START - timedelta(hours=50 - k) for k in range(50)]
    minutes = await venue.bars("BTC/USDT", "1m", START - timedelta(minutes=2_300), START - timedelta(minutes=10))
    assert len(minutes) == 2_290  # three pages of klines
    assert all(b.start - a.start == timedelta(minutes=1) for a, b in pairwise(minutes))
    assert minutes[-1].start == START - timedelta(minutes=11)


async def test_submit_fills_and_account_marks_the_position(venue: CcxtVenue) -> None:
    placed = await venue.submit(market_buy("buy-1"))
    assert (placed.status, placed.filled_quantity, placed.client_order_id) == ("filled", 0.01, "buy-1")
    assert placed.average_price is not None
    positions = await venue.positions()
    assert list(positions) == ["BTC/USDT"]
    assert positions["BTC/USDT"].quantity == pytest.approx(0.00999)  # the fee is taken in BTC
    account = await venue.account()
    assert account.currency == "USDT" and account.paper is True
    assert account.cash == pytest.approx(100_000 - 0.01 * placed.average_price)
    assert account.equity == pytest.approx(account.cash + 0.00999 * placed.average_price, rel=1e-6)


async def test_a_504_after_accept_is_unavailable_and_the_lookup_finds_the_one_order(
    emulator: ExchangeEmulator, venue: CcxtVenue
) -> None:
    await venue.rules("BTC/USDT")
    control(emulator, "POST", "faults", {"accept_then_504": 1})
    with pytest.raises(VenueUnavailable, match="outcome unknown"):
        await venue.submit(market_buy("lost-1"))
    found = await venue.order_by_client_id("lost-1", "BTC/USDT")
    assert found is not None and found.status == "filled" and found.filled_quantity == 0.01
    with pytest.raises(DuplicateClientOrderId):
        await venue.submit(market_buy("lost-1"))
    assert len(orders_with_client_id(emulator, "lost-1")) == 1


async def test_lookup_of_an_unknown_client_id_is_none(venue: CcxtVenue) -> None:
    assert await venue.order_by_client_id("never-sent", "BTC/USDT") is None


async def test_open_orders_and_cancel(venue: CcxtVenue) -> None:
    price = (await venue._client.fetch_ticker("BTC/USDT"))["last"]
    resting = await venue.submit(
        OrderRequest("rest-1", "BTC/USDT", "buy", 0.01, time_in_force="gtc", limit_price=round(price / 2, 2))
    )
    assert resting.status == "new"
    assert [o.client_order_id for o in await venue.open_orders(["BTC/USDT", "ETH/USDT"])] == ["rest-1"]
    await venue.cancel(resting)
    after = await venue.order_by_client_id("rest-1", "BTC/USDT")
    assert after is not None and after.status == "canceled"
    with pytest.raises(VenueError, match="not open"):
        await venue.cancel(resting)


async def test_partial_fill_reads_as_partially_filled(emulator: ExchangeEmulator, venue: CcxtVenue) -> None:
    control(emulator, "POST", "faults", {"partial_fills": 1})
    placed = await venue.submit(market_buy("part-1", 0.01, "ETH/USDT"))
    assert (placed.status, placed.filled_quantity) == ("partially_filled", 0.005)


async def test_refusals_map_to_the_ports_classes(emulator: ExchangeEmulator, venue: CcxtVenue) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance"):
        await venue.submit(market_buy("big-1", quantity=1000))
    with pytest.raises(OrderRejected, match="NOTIONAL"):
        await venue.submit(market_buy("tiny-1", quantity=0.001))
    with pytest.raises(UnknownSymbol, match="NOPE/USDT"):
        await venue.rules("NOPE/USDT")
    with pytest.raises(UnknownSymbol):
        await venue.submit(market_buy("x-1", symbol="DOGE/EUR"))
    await venue.submit(market_buy("dup-1"))
    with pytest.raises(DuplicateClientOrderId):
        await venue.submit(market_buy("dup-1"))
    control(emulator, "POST", "faults", {"http_429": 1})
    with pytest.raises(VenueUnavailable):
        await venue.positions()


async def test_a_stalled_exchange_is_unavailable(emulator: ExchangeEmulator, venue: CcxtVenue) -> None:
    await venue.rules("BTC/USDT")
    venue._client.timeout = 300  # ms
    control(emulator, "POST", "faults", {"stall_s": 1.0})
    try:
        with pytest.raises(VenueUnavailable):
            await venue.account()
    finally:
        control(emulator, "POST", "faults", {"stall_s": 0})


async def test_bad_keys_are_an_auth_error_without_the_secret(emulator: ExchangeEmulator) -> None:
    secret = "not-the-secret-0123456789"
    venue = CcxtVenue.create("binance", KEY, secret, base_url=emulator.url)
    try:
        with pytest.raises(VenueAuthError) as caught:
            await venue.account()
        assert secret not in str(caught.value) and "signature=" not in str(caught.value)
    finally:
        await venue.close()


def test_an_unknown_exchange_is_named_with_suggestions() -> None:
    with pytest.raises(VenueError, match=r"'binanse'.*did you mean binance"):
        CcxtVenue.create("binanse", "k", "s")


def test_a_base_url_for_a_non_binance_exchange_is_refused() -> None:
    with pytest.raises(VenueError, match="kraken"):
        CcxtVenue.create("kraken", "k", "s", base_url="http://127.0.0.1:1")


async def test_base_url_replaces_every_binance_spot_host_even_after_sandbox() -> None:
    for sandbox in (False, True):
        venue = CcxtVenue.create("binance", "k", "s", base_url="http://127.0.0.1:9", sandbox=sandbox)
        try:
            api = venue._client.urls["api"]
            assert api["public"] == "http://127.0.0.1:9/api/v3"
            assert api["private"] == "http://127.0.0.1:9/api/v3"
            assert api["v1"] == "http://127.0.0.1:9/api/v1"
            hosts = {urlsplit(u).netloc for u in api.values()}
            assert not hosts & {"api.binance.com", "testnet.binance.vision"}
        finally:
            await venue.close()
