"""The exchange emulator speaks Binance spot as real ccxt (4.5.90) expects it, faults included."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt.async_support as ccxt
import httpx
import pytest

from tests.conftest import wait_for
from tests.integration.venues.exchange_fixtures import (
    KEY,
    SECRET,
    START,
    binance,
    binance_at,
    control,
    emulator,
    orders_with_client_id,
    start_emulator,
)
from venues.exchange import ExchangeEmulator
from venues.exchange.signing import sign

__all__ = ["binance", "emulator"]  # fixtures used by name below

MINUTE_MS = 60_000


async def test_load_markets_is_one_call_and_carries_the_filters(emulator: ExchangeEmulator, binance: Any) -> None:
    markets = await binance.load_markets()
    assert list(emulator.requests) == [("GET", "/api/v3/exchangeInfo")]
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["active"] is True and btc["spot"] is True
    assert btc["precision"] == {"amount": 0.00001, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0


async def test_klines_are_closed_bars_paged_by_start_time(emulator: ExchangeEmulator, binance: Any) -> None:
    now_ms = int(START.timestamp() * 1000)
    since = now_ms - 2_500 * MINUTE_MS
    pages = []
    while since < now_ms:
        page = await binance.fetch_ohlcv("BTC/USDT", "1m", since, 1000)
        if not page:
            break
        pages.append(page)
        since = page[-1][0] + MINUTE_MS
    assert [len(p) for p in pages] == [1000, 1000, 500]
    starts = [row[0] for page in pages for row in page]
    assert starts == list(range(now_ms - 2_500 * MINUTE_MS, now_ms, MINUTE_MS))  # the open minute is not served
    assert all(row[3] <= min(row[1], row[4]) and row[2] >= max(row[1], row[4]) for page in pages for row in page)
    latest = await binance.fetch_ohlcv("BTC/USDT", "1h", limit=3)
    assert [row[0] for row in latest] == [now_ms - 3_600_000 * k for k in (3, 2, 1)]


async def test_market_order_fills_at_the_market_and_is_found_by_client_id(binance: Any) -> None:
    price = (await binance.fetch_ticker("BTC/USDT"))["last"]
    order = await binance.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "m-1"})
    assert order["status"] == "closed" and order["filled"] == 0.01 and order["average"] == price
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    found = await binance.fetch_order(None, "BTC/USDT", {"origClientOrderId": "m-1"})
    assert found["id"] == order["id"] and found["status"] == "closed"
    balance = await binance.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(0.00999)
    assert balance["USDT"]["total"] == pytest.approx(100_000 - 0.01 * price)


async def test_limit_order_rests_is_listed_and_cancels(binance: Any) -> None:
    price = (await binance.fetch_ticker("BTC/USDT"))["last"]
    limit = round(price * 0.5, 2)
    order = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, limit, {"newClientOrderId": "l-1"})
    assert order["status"] == "open" and order["filled"] == 0
    assert (await binance.fetch_balance())["USDT"]["used"] == pytest.approx(0.01 * limit)
    assert [o["clientOrderId"] for o in await binance.fetch_open_orders("BTC/USDT")] == ["l-1"]
    canceled = await binance.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert await binance.fetch_open_orders("BTC/USDT") == []
    assert (await binance.fetch_balance())["USDT"]["used"] == 0
    with pytest.raises(ccxt.OrderNotFound):
        await binance.cancel_order(order["id"], "BTC/USDT")


async def test_a_resting_limit_fills_when_the_market_crosses_it(emulator: ExchangeEmulator, binance: Any) -> None:
    """The market's path is deterministic: find the low of the next six hours and rest a buy just above it."""
    minutes = [START + timedelta(minutes=k) for k in range(1, 360)]
    prices = [emulator.market.price("BTCUSDT", at) for at in minutes]
    low_at = min(range(len(prices)), key=prices.__getitem__)
    now_price = emulator.market.price("BTCUSDT")
    limit = round(prices[low_at] + 0.01, 2)
    assert limit < now_price, "the synthetic path never dips below its start in six hours: pick another window"
    order = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, limit, {"newClientOrderId": "cross-1"})
    assert order["status"] == "open"
    control(emulator, "POST", "advance", {"seconds": (low_at + 1) * 60})

    async def filled() -> Any:
        found = await binance.fetch_order(order["id"], "BTC/USDT")
        return found if found["status"] == "closed" else None

    done = await wait_for(filled, what="the crossed limit to fill")
    assert done["average"] == limit  # a resting order fills at its limit


async def test_duplicate_client_order_id_is_refused_even_after_cancel(binance: Any) -> None:
    price = (await binance.fetch_ticker("BTC/USDT"))["last"]
    order = await binance.create_order("BTC/USDT", "limit", "buy", 0.01, round(price / 2, 2), {"newClientOrderId": "d"})
    await binance.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.InvalidOrder, match=r"Duplicate order sent\."):
        await binance.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "d"})


async def test_bad_secret_and_unknown_key_are_authentication_errors(emulator: ExchangeEmulator) -> None:
    for client in (binance_at(emulator.url, secret="wrong"), binance_at(emulator.url, key="nobody")):
        try:
            with pytest.raises(ccxt.AuthenticationError):
                await client.fetch_balance()
        finally:
            await client.close()


def _signed(params: dict[str, Any]) -> str:
    query = urlencode(params)
    return f"{query}&signature={sign(query, SECRET)}"


def test_a_tampered_or_stale_request_is_refused(emulator: ExchangeEmulator) -> None:
    headers = {"X-MBX-APIKEY": KEY}
    now = int(time.time() * 1000)
    good = _signed({"timestamp": now, "recvWindow": 5000})
    assert httpx.get(f"{emulator.url}/api/v3/account?{good}", headers=headers).status_code == 200
    tampered = good.replace("recvWindow=5000", "recvWindow=6000")
    response = httpx.get(f"{emulator.url}/api/v3/account?{tampered}", headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, -1022)
    stale = _signed({"timestamp": now - 10_000, "recvWindow": 5000})
    response = httpx.get(f"{emulator.url}/api/v3/account?{stale}", headers=headers)
    assert response.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    response = httpx.get(f"{emulator.url}/api/v3/account?{good}")
    assert (response.status_code, response.json()["code"]) == (401, -2014)


async def test_a_429_storm_raises_rate_limit_errors_then_clears(emulator: ExchangeEmulator, binance: Any) -> None:
    await binance.load_markets()
    control(emulator, "POST", "faults", {"http_429": 2})
    for _ in range(2):
        with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
            await binance.fetch_balance()
    assert (await binance.fetch_balance())["USDT"]["free"] == 100_000


async def test_accept_then_504_is_a_network_error_and_the_order_exists_once(
    emulator: ExchangeEmulator, binance: Any
) -> None:
    await binance.load_markets()
    control(emulator, "POST", "faults", {"accept_then_504": 1})
    with pytest.raises(ccxt.NetworkError):
        await binance.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "lost-1"})
    assert len(orders_with_client_id(emulator, "lost-1")) == 1
    with pytest.raises(ccxt.InvalidOrder, match=r"Duplicate order sent\."):
        await binance.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "lost-1"})
    found = await binance.fetch_order(None, "BTC/USDT", {"origClientOrderId": "lost-1"})
    assert found["status"] == "closed"
    assert len(orders_with_client_id(emulator, "lost-1")) == 1


async def test_filter_failures_and_refusals_use_binance_codes(binance: Any) -> None:
    await binance.load_markets()

    async def raw_order(**fields: Any) -> Any:
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        return await binance.private_post_order(base | fields)

    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        await raw_order(quantity="0.000015")
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await raw_order(type="LIMIT", timeInForce="GTC", price="100.005")
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await raw_order(quantity="0.00100")
    with pytest.raises(ccxt.InsufficientFunds):
        await raw_order(quantity="1000")
    with pytest.raises(ccxt.BadSymbol):
        await binance.public_get_klines({"symbol": "NOPEUSDT", "interval": "1m"})
    assert await binance.fetch_open_orders("BTC/USDT") == []


async def test_partial_fill_holds_the_rest_until_advance(emulator: ExchangeEmulator, binance: Any) -> None:
    await binance.load_markets()
    control(emulator, "POST", "faults", {"partial_fills": 1})
    order = await binance.create_order("ETH/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "p-1"})
    assert (order["status"], order["filled"]) == ("open", 0.005)
    control(emulator, "POST", "advance", {"seconds": 60})
    found = await binance.fetch_order(order["id"], "ETH/USDT")
    assert (found["status"], found["filled"]) == ("closed", 0.01)


async def test_balances_change_behind_the_bots_back(emulator: ExchangeEmulator, binance: Any) -> None:
    control(emulator, "POST", "balances", {"asset": "USDT", "free": "12.5"})
    assert (await binance.fetch_balance())["USDT"]["free"] == 12.5


def test_controls_need_the_key_and_the_secret(emulator: ExchangeEmulator) -> None:
    url = f"{emulator.url}/_emulator/orders"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-MBX-APIKEY": KEY, "Authorization": "Bearer wrong"}).status_code == 401
    response = httpx.post(
        f"{emulator.url}/_emulator/faults",
        json={"http_500": 1},
        headers={"X-MBX-APIKEY": KEY, "Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 400 and "http_500" in response.json()["msg"]


async def test_a_restart_keeps_orders_balances_and_used_client_ids(tmp_path: Path) -> None:
    first = start_emulator(tmp_path / "ex")
    client = binance_at(first.url)
    try:
        await client.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "keep-1"})
        before = (await client.fetch_balance())["total"]
    finally:
        await client.close()
        first.stop()
    second = start_emulator(tmp_path / "ex", start=START + timedelta(days=30))  # the saved clock wins
    client = binance_at(second.url)
    try:
        assert (await client.fetch_balance())["total"] == before
        assert second.clock.now() == START
        found = await client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "keep-1"})
        assert found["status"] == "closed"
        with pytest.raises(ccxt.InvalidOrder, match=r"Duplicate order sent\."):
            await client.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "keep-1"})
    finally:
        await client.close()
        second.stop()
