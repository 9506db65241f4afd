"""The ccxt adapter (``trader/venues/ccxt_venue.py``) with an in-memory stand-in for the exchange client.

The Binance emulator tests (tests/integration/live) prove the wire; too slow for ``./dev
mutation``. Here ``CcxtVenue`` gets a small fake ccxt client that keeps what it was asked, so
what a trader would notice shows: an order sent without its client order id or as the wrong
side or kind, a lookup that cannot find the bot's own order, fees in the coin bought ignored
(the bot would think it holds more than it does), a spot balance not read as the position, the
account marked without prices, step sizes read the wrong way, bars still forming used as closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import ccxt.async_support as ccxt
import pytest

from trader.venue import (
    EXCHANGE_URL_ENV,
    OrderRequest,
    Position,
    SymbolRules,
    UnknownSymbol,
    VenueBar,
    VenueError,
    VenueOrder,
    VenueUnavailable,
)
from trader.venues import ccxt_venue
from trader.venues.ccxt_venue import CcxtVenue

HOUR_MS = 3_600_000
T0 = 1_764_547_200_000  # 2025-12-01 00:00 UTC


def _market(symbol: str, *, quote: str = "USDT", spot: bool = True, **more: Any) -> dict[str, Any]:
    return {"symbol": symbol, "quote": quote, "spot": spot, **more}


@dataclass
class FakeExchange:
    """The parts of a ccxt async client the adapter uses; ``fail`` maps a method to the error it raises."""

    id: str = "binance"
    apiKey: str = "key"  # ccxt's attribute names
    secret: str = "topsecret"
    password: str | None = None
    precisionMode: int = ccxt.TICK_SIZE
    timeframes: dict[str, str] = field(default_factory=lambda: {"1h": "1h", "1d": "1d"})
    markets: dict[str, Any] = field(
        default_factory=lambda: {
            "BTC/USDT": _market("BTC/USDT"),
            "ETH/USDT": _market("ETH/USDT"),
            "ETH/BTC": _market("ETH/BTC", quote="BTC"),
            "BTC/USDT:USDT": _market("BTC/USDT:USDT", spot=False),
        }
    )
    balance: dict[str, Any] = field(default_factory=dict)
    tickers: dict[str, Any] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    ohlcv: list[list[Any]] = field(default_factory=list)
    now_ms: int = T0
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    closed: bool = False

    def _ask(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise self.fail[name]

    def parse_timeframe(self, interval: str) -> int:
        return {"1h": 3600, "1d": 86400}[interval]

    async def load_markets(self) -> dict[str, Any]:
        self._ask("load_markets")
        return self.markets

    async def fetch_balance(self) -> dict[str, Any]:
        self._ask("fetch_balance")
        return self.balance

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Any]:
        self._ask("fetch_tickers", symbols)
        return self.tickers

    async def fetch_time(self) -> int:
        self._ask("fetch_time")
        return self.now_ms

    async def create_order(self, *args: Any) -> dict[str, Any]:
        self._ask("create_order", *args)
        return {"id": "123", "status": "open", "filled": 0.0}

    async def fetch_order(self, order_id: Any, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        self._ask("fetch_order", order_id, symbol, params)
        client_id = params["origClientOrderId"]
        if client_id not in self.orders:
            raise ccxt.OrderNotFound("binance {'code':-2013,'msg':'Order does not exist.'}")
        return self.orders[client_id]

    async def fetch_my_trades(self, symbol: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._ask("fetch_my_trades", symbol, params)
        return self.trades

    async def fetch_open_orders(self, symbol: str) -> list[dict[str, Any]]:
        self._ask("fetch_open_orders", symbol)
        return [o for o in self.orders.values() if o["symbol"] == symbol and o["status"] == "open"]

    async def cancel_order(self, order_id: str, symbol: str) -> None:
        self._ask("cancel_order", order_id, symbol)

    async def fetch_ohlcv(self, symbol: str, interval: str, since: int, limit: int) -> list[list[Any]]:
        self._ask("fetch_ohlcv", symbol, interval, since, limit)
        return [row for row in self.ohlcv if row[0] >= since][:2]  # pages of two rows

    async def close(self) -> None:
        self.closed = True


def _raw(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "4711",
        "clientOrderId": "bot1-0",
        "symbol": "BTC/USDT",
        "side": "buy",
        "amount": 0.5,
        "filled": 0.5,
        "average": 50_000.0,
        "status": "closed",
        "datetime": "2025-12-01T00:00:00.000Z",
    }
    return base | fields


def _venue(client: FakeExchange | None = None, **kwargs: Any) -> tuple[CcxtVenue, FakeExchange]:
    exchange = client or FakeExchange()
    return CcxtVenue(exchange, **kwargs), exchange  # type: ignore[arg-type]


# ---- building a client -----------------------------------------------------------------


async def test_an_unknown_exchange_name_suggests_the_close_ones() -> None:
    with pytest.raises(VenueError) as raised:
        CcxtVenue.create("binanse", "k", "s")
    assert str(raised.value) == (
        "ccxt knows no exchange named 'binanse'; did you mean binance, binanceus, coinbase? the names are "
        "ccxt's exchange ids (python -c 'import ccxt; print(ccxt.exchanges)')"
    )
    with pytest.raises(VenueError) as raised:
        CcxtVenue.create("zzzzzzzz", "k", "s")
    assert str(raised.value).startswith("ccxt knows no exchange named 'zzzzzzzz'; the names are ccxt's exchange ids")


async def test_an_emulator_url_is_refused_for_an_exchange_that_is_not_binance() -> None:
    with pytest.raises(VenueError) as raised:
        CcxtVenue.create("kraken", "k", "s", base_url="http://127.0.0.1:9")
    assert str(raised.value) == (
        f"{EXCHANGE_URL_ENV} points ccxt:kraken at http://127.0.0.1:9, but only Binance-shaped exchanges "
        "(binance, binanceus) speak the emulator's protocol; unset it for kraken"
    )


async def test_a_binance_client_is_built_with_the_keys_rate_limit_and_spot_options() -> None:
    venue = CcxtVenue.create("binance", "key", "secret", symbols=["ETH/BTC", "SOL/BTC"])
    try:
        client = venue._client
        assert (client.apiKey, client.secret, client.enableRateLimit) == ("key", "secret", True)
        assert not client.password
        # one exchangeInfo call for spot markets at load_markets, not eight
        assert client.options["fetchCurrencies"] is False and client.options["fetchMargins"] is False
        assert client.options["fetchMarkets"]["types"] == ["spot"]
        assert venue.name == "ccxt:binance" and venue.quote == "BTC" and venue.symbols == ["ETH/BTC", "SOL/BTC"]
        assert venue.paper is None
        assert client.urls["api"]["public"] == "https://api.binance.com/api/v3"
    finally:
        await venue.close()


async def test_an_exchange_with_a_passphrase_gets_it_and_no_binance_options() -> None:
    venue = CcxtVenue.create("kucoin", "key", "secret", "phrase", symbols=["BTC/USDT", "BTC/USDC"])
    try:
        assert venue._client.password == "phrase"
        assert "fetchMarkets" not in venue._client.options or venue._client.options["fetchMarkets"] != {
            "types": ["spot"]
        }
        assert venue.quote == "USDT"  # two quotes: the default
        assert venue._secrets == ("key", "secret", "phrase")
    finally:
        await venue.close()


async def test_sandbox_and_emulator_clients_are_paper_and_the_emulator_replaces_the_spot_host() -> None:
    sandbox = CcxtVenue.create("binance", "key", "secret", sandbox=True, quote="USDC")
    emulated = CcxtVenue.create("binance", "key", "secret", base_url="http://127.0.0.1:9/")
    try:
        assert sandbox.paper is True and sandbox.quote == "USDC"
        assert "testnet" in sandbox._client.urls["api"]["public"]
        api = emulated._client.urls["api"]
        assert emulated.paper is True
        assert api["public"] == "http://127.0.0.1:9/api/v3" and api["sapi"] == "http://127.0.0.1:9/sapi/v1"
        assert not any(isinstance(url, str) and url.startswith("https://api.binance.com") for url in api.values())
    finally:
        await sandbox.close()
        await emulated.close()


def test_pointing_at_a_host_keeps_other_hosts_and_non_urls() -> None:
    class Client:
        urls: ClassVar[dict[str, Any]] = {
            "api": {
                "public": "https://api.binance.com/api/v3",
                "private": "https://api.binance.com/api/v3",
                "fapi": "https://fapi.binance.com/fapi/v1",
                "nested": {"x": 1},
            }
        }

    client = Client()
    ccxt_venue._point_at(client, "http://emu:1/")  # type: ignore[arg-type]
    assert client.urls["api"] == {
        "public": "http://emu:1/api/v3",
        "private": "http://emu:1/api/v3",
        "fapi": "https://fapi.binance.com/fapi/v1",
        "nested": {"x": 1},
    }
    proxied = Client()
    proxied.urls = {"api": {"public": "https://api.binance.com/api/v3"}}  # type: ignore[misc]
    ccxt_venue._point_at(proxied, "http://emu:1/proxyX/")  # type: ignore[arg-type]
    assert proxied.urls["api"]["public"] == "http://emu:1/proxyX/api/v3"


def test_the_emulator_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXCHANGE_URL_ENV, "http://127.0.0.1:5")
    assert ccxt_venue.exchange_url_from_env() == "http://127.0.0.1:5"
    monkeypatch.setenv(EXCHANGE_URL_ENV, "")
    assert ccxt_venue.exchange_url_from_env() is None
    monkeypatch.delenv(EXCHANGE_URL_ENV)
    assert ccxt_venue.exchange_url_from_env() is None


# ---- balances as positions ---------------------------------------------------------------


async def test_the_balance_of_each_bot_symbols_base_is_its_position() -> None:
    venue, exchange = _venue(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    exchange.balance = {"total": {"BTC": 0.5, "ETH": 0.0, "USDT": 1000.0, "DOGE": 10.0}}
    assert await venue.positions() == {"BTC/USDT": Position("BTC/USDT", 0.5, 0.0)}


async def test_without_symbols_every_spot_market_in_the_quote_counts() -> None:
    venue, exchange = _venue(quote="USDT")
    exchange.balance = {"total": {"BTC": 0.5, "ETH": 2.0}}
    assert await venue.positions() == {
        "BTC/USDT": Position("BTC/USDT", 0.5, 0.0),
        "ETH/USDT": Position("ETH/USDT", 2.0, 0.0),
    }
    exchange.markets = None  # type: ignore[assignment]
    exchange.balance = {}
    assert await venue.positions() == {}


async def test_the_account_is_cash_plus_positions_at_their_last_price() -> None:
    venue, exchange = _venue(symbols=["BTC/USDT", "ETH/USDT"], paper=True)
    exchange.balance = {"total": {"BTC": 0.5, "ETH": 2.0, "USDT": 1000.0}}
    exchange.tickers = {"BTC/USDT": {"last": 50_000.0}, "ETH/USDT": {"last": "2000"}}
    account = await venue.account()
    assert (account.cash, account.equity, account.currency, account.paper) == (1000.0, 30_000.0, "USDT", True)
    assert ("fetch_tickers", ["BTC/USDT", "ETH/USDT"]) in exchange.calls


async def test_an_account_with_no_positions_asks_no_prices_and_missing_cash_is_zero() -> None:
    venue, exchange = _venue(symbols=["BTC/USDT"])
    exchange.balance = {"total": {"USDT": None}}
    account = await venue.account()
    assert (account.cash, account.equity) == (0.0, 0.0)
    assert [c[0] for c in exchange.calls] == ["fetch_balance"]
    exchange.balance = {}
    assert (await venue.account()).cash == 0.0


async def test_an_account_whose_position_has_no_price_is_an_error() -> None:
    venue, exchange = _venue(symbols=["BTC/USDT"])
    exchange.balance = {"total": {"BTC": 0.5}}
    for tickers in ({}, {"BTC/USDT": {"last": None}}):
        exchange.tickers = tickers
        with pytest.raises(VenueError) as raised:
            await venue.account()
        assert str(raised.value) == "ccxt:binance has no price for BTC/USDT: cannot mark the account"


async def test_a_balance_outage_says_what_was_asked() -> None:
    venue, exchange = _venue(symbols=["BTC/USDT"])
    exchange.fail["fetch_balance"] = ccxt.RequestTimeout("timed out")
    expected = "ccxt:binance did not answer fetching the balance (outcome unknown): timed out"
    for call in (venue.positions, venue.account):
        with pytest.raises(VenueUnavailable) as raised:
            await call()
        assert str(raised.value) == expected
    exchange.fail = {"fetch_tickers": ccxt.RequestTimeout("timed out")}
    exchange.balance = {"total": {"BTC": 0.5}}
    with pytest.raises(VenueUnavailable, match="did not answer fetching prices"):
        await venue.account()


# ---- rules and time --------------------------------------------------------------------


async def test_rules_come_from_the_markets_limits_and_tick_sizes() -> None:
    venue, exchange = _venue()
    exchange.markets["BTC/USDT"] |= {
        "active": True,
        "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5.0}},
        "precision": {"amount": 0.00001, "price": 0.01},
    }
    assert await venue.rules("BTC/USDT") == SymbolRules(
        "BTC/USDT", tradable=True, min_quantity=0.00001, quantity_step=0.00001, min_notional=5.0, price_tick=0.01
    )


async def test_rules_with_decimal_places_missing_limits_or_an_inactive_market() -> None:
    venue, exchange = _venue(FakeExchange(precisionMode=ccxt.DECIMAL_PLACES))
    exchange.markets["ETH/USDT"] |= {"active": False, "limits": None, "precision": {"amount": 3, "price": 2}}
    assert await venue.rules("ETH/USDT") == SymbolRules(
        "ETH/USDT", tradable=False, min_quantity=0.0, quantity_step=0.001, min_notional=0.0, price_tick=0.01
    )
    exchange.markets["BTC/USDT"] |= {"limits": {"amount": {"min": None}, "cost": None}, "precision": None}
    assert await venue.rules("BTC/USDT") == SymbolRules("BTC/USDT")  # active unknown: tradable


async def test_significant_digits_give_no_fixed_step() -> None:
    venue, exchange = _venue(FakeExchange(precisionMode=ccxt.SIGNIFICANT_DIGITS))
    exchange.markets["BTC/USDT"] |= {"precision": {"amount": 4, "price": 5}}
    rules = await venue.rules("BTC/USDT")
    assert (rules.quantity_step, rules.price_tick) == (0.0, 0.0)


async def test_an_unlisted_symbol_is_named() -> None:
    venue, _ = _venue()
    with pytest.raises(UnknownSymbol) as raised:
        await venue.rules("DOGE/USDT")
    assert str(raised.value) == "ccxt:binance lists no market 'DOGE/USDT' (symbols look like BTC/USDT)"


async def test_loading_markets_that_fails_says_so() -> None:
    venue, exchange = _venue()
    exchange.fail["load_markets"] = ccxt.ExchangeNotAvailable("maintenance")
    with pytest.raises(VenueUnavailable, match="did not answer loading markets"):
        await venue.rules("BTC/USDT")


async def test_the_clock_is_the_exchanges_in_utc_and_always_open() -> None:
    venue, exchange = _venue()
    clock = await venue.clock()
    assert clock.now == datetime(2025, 12, 1, tzinfo=UTC) and clock.now.tzinfo is UTC and clock.is_open is True
    exchange.fail["fetch_time"] = ccxt.RequestTimeout("slow")
    with pytest.raises(VenueUnavailable, match="did not answer fetching the time"):
        await venue.clock()


# ---- orders ----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_a_market_order_carries_its_client_order_id_side_and_quantity(side: str) -> None:
    venue, exchange = _venue()
    placed = await venue.submit(OrderRequest("bot1-0", "BTC/USDT", side, 0.5, "gtc"))  # type: ignore[arg-type]
    assert exchange.calls[-1] == ("create_order", "BTC/USDT", "market", side, 0.5, None, {"newClientOrderId": "bot1-0"})
    # the exchange's answer names only the id: the rest comes from what was sent
    assert placed == VenueOrder("bot1-0", "123", "BTC/USDT", side, 0.5, 0.0, None, "new")  # type: ignore[arg-type]


@pytest.mark.parametrize(("tif", "binance_tif"), [("day", "GTC"), ("gtc", "GTC"), ("ioc", "IOC")])
async def test_a_limit_order_carries_its_price_and_time_in_force(tif: str, binance_tif: str) -> None:
    venue, exchange = _venue()
    await venue.submit(OrderRequest("c1", "BTC/USDT", "buy", 0.5, tif, limit_price=49_000.0))  # type: ignore[arg-type]
    params = {"newClientOrderId": "c1", "timeInForce": binance_tif}
    assert exchange.calls[-1] == ("create_order", "BTC/USDT", "limit", "buy", 0.5, 49_000.0, params)


async def test_a_limit_order_with_a_time_in_force_the_exchange_lacks_is_refused_before_sending() -> None:
    venue, exchange = _venue()
    with pytest.raises(VenueError) as raised:
        await venue.submit(OrderRequest("c1", "BTC/USDT", "buy", 0.5, "opg", limit_price=49_000.0))
    assert str(raised.value) == "ccxt:binance has no 'opg' orders (use day, gtc or ioc)"
    assert not any(c[0] == "create_order" for c in exchange.calls)


async def test_an_order_in_an_unlisted_symbol_is_not_sent() -> None:
    venue, exchange = _venue()
    with pytest.raises(UnknownSymbol):
        await venue.submit(OrderRequest("c1", "DOGE/USDT", "buy", 1.0, "gtc"))
    assert [c[0] for c in exchange.calls] == ["load_markets"]


async def test_a_refused_order_says_which_order() -> None:
    venue, exchange = _venue()
    exchange.fail["create_order"] = ccxt.InsufficientFunds("binance Account has insufficient balance")
    with pytest.raises(VenueError) as raised:
        await venue.submit(OrderRequest("c1", "BTC/USDT", "sell", 0.5, "gtc"))
    assert str(raised.value) == "ccxt:binance placing sell 0.5 BTC/USDT (c1): binance Account has insufficient balance"


async def test_a_filled_order_is_read_back_with_its_fees_by_currency() -> None:
    venue, exchange = _venue()
    exchange.orders["bot1-0"] = _raw()
    exchange.trades = [
        {"fee": {"cost": 0.0003, "currency": "BTC"}},
        {"fee": {"cost": "0.0002", "currency": "BTC"}},
        {"fee": {"cost": 1.5, "currency": "USDT"}},
        {"fee": {"cost": 9.0, "currency": "BNB"}},
        {"fee": None},
        {"fee": {"cost": None, "currency": "BTC"}},
        {"fee": {"cost": None, "currency": "USDT"}},
    ]
    found = await venue.order_by_client_id("bot1-0", "BTC/USDT")
    assert found == VenueOrder(
        "bot1-0",
        "4711",
        "BTC/USDT",
        "buy",
        0.5,
        0.5,
        50_000.0,
        "filled",
        "2025-12-01T00:00:00.000Z",
        fee_base=pytest.approx(0.0005),  # type: ignore[arg-type]
        fee_quote=1.5,
    )
    assert ("fetch_order", None, "BTC/USDT", {"origClientOrderId": "bot1-0"}) in exchange.calls
    assert exchange.calls[-1] == ("fetch_my_trades", "BTC/USDT", {"orderId": "4711"})


async def test_an_unfilled_order_is_read_without_asking_for_trades_and_a_missing_one_is_none() -> None:
    venue, exchange = _venue()
    exchange.orders["c1"] = _raw(clientOrderId="c1", filled=0.0, average=None, status="open")
    found = await venue.order_by_client_id("c1", "BTC/USDT")
    assert found is not None and (found.status, found.average_price, found.fee_base) == ("new", None, 0.0)
    assert await venue.order_by_client_id("c2", "BTC/USDT") is None
    assert not any(c[0] == "fetch_my_trades" for c in exchange.calls)


async def test_a_failed_lookup_or_trades_read_says_which_order() -> None:
    venue, exchange = _venue()
    exchange.fail["fetch_order"] = ccxt.RequestTimeout("slow")
    with pytest.raises(VenueUnavailable) as raised:
        await venue.order_by_client_id("c1", "BTC/USDT")
    assert str(raised.value).startswith("ccxt:binance did not answer looking up order c1 on BTC/USDT")
    exchange.fail = {"fetch_my_trades": ccxt.RequestTimeout("slow")}
    exchange.orders["c1"] = _raw(clientOrderId="c1")
    with pytest.raises(VenueUnavailable, match="did not answer reading the trades of order c1 on BTC/USDT"):
        await venue.order_by_client_id("c1", "BTC/USDT")


async def test_open_orders_are_asked_symbol_by_symbol() -> None:
    venue, exchange = _venue()
    exchange.orders = {
        "a": _raw(clientOrderId="a", status="open", filled=0.1),
        "b": _raw(clientOrderId="b", symbol="ETH/USDT", status="open", filled=0.0),
        "c": _raw(clientOrderId="c"),
    }
    found = await venue.open_orders(["BTC/USDT", "ETH/USDT"])
    assert [(o.client_order_id, o.status) for o in found] == [("a", "partially_filled"), ("b", "new")]
    assert [c[1] for c in exchange.calls if c[0] == "fetch_open_orders"] == ["BTC/USDT", "ETH/USDT"]
    exchange.fail["fetch_open_orders"] = ccxt.RequestTimeout("slow")
    with pytest.raises(VenueUnavailable, match="did not answer listing open orders on BTC/USDT"):
        await venue.open_orders(["BTC/USDT"])


async def test_cancel_uses_the_exchanges_id_and_says_when_the_order_is_not_open() -> None:
    venue, exchange = _venue()
    order = VenueOrder("c1", "4711", "BTC/USDT", "buy", 0.5, 0.0, None, "new")
    await venue.cancel(order)
    assert exchange.calls == [("cancel_order", "4711", "BTC/USDT")]
    exchange.fail["cancel_order"] = ccxt.OrderNotFound("Unknown order sent.")
    with pytest.raises(VenueError) as raised:
        await venue.cancel(order)
    assert str(raised.value) == (
        "ccxt:binance canceling order c1 on BTC/USDT: the order is not open (filled, canceled or unknown)"
    )
    exchange.fail["cancel_order"] = ccxt.RequestTimeout("slow")
    with pytest.raises(VenueUnavailable, match="did not answer canceling order c1 on BTC/USDT"):
        await venue.cancel(order)


def test_order_statuses_map_to_ours() -> None:
    status = ccxt_venue._status
    assert [status(s, 0.0) for s in ("closed", "canceled", "cancelled", "rejected", "expired", "open", None)] == [
        "filled",
        "canceled",
        "canceled",
        "rejected",
        "expired",
        "new",
        "new",
    ]
    assert status("open", 0.1) == "partially_filled" and status("canceled", 0.1) == "canceled"


def test_an_order_answer_without_details_falls_back_to_what_was_sent_or_to_safe_values() -> None:
    sent = OrderRequest("c9", "ETH/USDT", "sell", 2.0, "gtc")
    assert ccxt_venue._to_order({"id": 7}, sent) == VenueOrder("c9", "7", "ETH/USDT", "sell", 2.0, 0.0, None, "new")
    assert ccxt_venue._to_order({"id": 7}) == VenueOrder("", "7", "", "buy", 0.0, 0.0, None, "new")
    assert ccxt_venue._to_order({"id": 7, "side": "sell"}, OrderRequest("c9", "ETH/USDT", "buy", 2.0)).side == "sell"


# ---- bars ------------------------------------------------------------------------------


async def test_only_closed_bars_are_returned_page_by_page() -> None:
    venue, exchange = _venue()
    exchange.now_ms = T0 + 5 * HOUR_MS + 10  # the 05:00 bar is still forming
    exchange.ohlcv = [[T0 + i * HOUR_MS, 1.0 + i, 2.0, 0.5, 1.5, 10.0 if i != 2 else None] for i in range(6)]
    bars = await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, tzinfo=UTC))
    assert [b.start.hour for b in bars] == [0, 1, 2, 3, 4]
    assert bars[0] == VenueBar(datetime(2025, 12, 1, tzinfo=UTC), 1.0, 2.0, 0.5, 1.5, 10.0)
    assert bars[2].volume == 0.0 and bars[0].start.tzinfo is UTC
    pages = [c for c in exchange.calls if c[0] == "fetch_ohlcv"]
    assert [c[1:] for c in pages] == [
        ("BTC/USDT", "1h", T0, 1000),
        ("BTC/USDT", "1h", T0 + 2 * HOUR_MS, 1000),
        ("BTC/USDT", "1h", T0 + 4 * HOUR_MS, 1000),
    ]


async def test_a_bar_counts_as_closed_from_its_last_millisecond_on() -> None:
    venue, exchange = _venue()
    exchange.ohlcv = [[T0 + i * HOUR_MS, 1, 2, 0.5, 1.5, 10] for i in range(6)]
    exchange.now_ms = T0 + 5 * HOUR_MS - 1  # the 04:00 bar has one millisecond to go
    assert [b.start.hour for b in await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, tzinfo=UTC))] == [0, 1, 2, 3]
    exchange.now_ms = T0 + 5 * HOUR_MS  # now it is closed
    assert [b.start.hour for b in await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, tzinfo=UTC))] == [
        0,
        1,
        2,
        3,
        4,
    ]


async def test_the_end_is_exclusive_and_reached_exactly_asks_no_more_pages() -> None:
    venue, exchange = _venue()
    exchange.now_ms = T0 + 10 * HOUR_MS
    exchange.ohlcv = [[T0 + i * HOUR_MS, 1, 2, 0.5, 1.5, 10] for i in range(10)]
    start = datetime(2025, 12, 1, tzinfo=UTC)
    assert [b.start.hour for b in await venue.bars("BTC/USDT", "1h", start, start + timedelta(hours=1))] == [0]
    exchange.calls.clear()
    assert [b.start.hour for b in await venue.bars("BTC/USDT", "1h", start, start + timedelta(hours=2))] == [0, 1]
    assert len([c for c in exchange.calls if c[0] == "fetch_ohlcv"]) == 1


def test_a_naive_time_is_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert ccxt_venue._ms(datetime(2025, 12, 1)) == T0
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_bars_stop_at_the_end_asked_and_a_naive_time_is_utc() -> None:
    venue, exchange = _venue()
    exchange.now_ms = T0 + 10 * HOUR_MS
    exchange.ohlcv = [[T0 + i * HOUR_MS, 1, 2, 0.5, 1.5, 10] for i in range(10)]
    end = datetime(2025, 12, 1, 3, 0)  # naive: UTC
    bars = await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, 1, 0), end)
    assert [b.start.hour for b in bars] == [1, 2]
    eastern = timezone(timedelta(hours=-5))
    bars = await venue.bars("BTC/USDT", "1h", datetime(2025, 11, 30, 20, 0, tzinfo=eastern), end)
    assert [b.start.hour for b in bars] == [1, 2]


async def test_bars_end_when_the_exchange_has_no_more() -> None:
    venue, exchange = _venue()
    exchange.now_ms = T0 + 100 * HOUR_MS
    exchange.ohlcv = [[T0, 1, 2, 0.5, 1.5, 10]]
    assert len(await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, tzinfo=UTC))) == 1
    assert len([c for c in exchange.calls if c[0] == "fetch_ohlcv"]) == 2

    class Stale(FakeExchange):
        async def fetch_ohlcv(self, symbol: str, interval: str, since: int, limit: int) -> list[list[Any]]:
            self._ask("fetch_ohlcv", symbol, interval, since, limit)
            return [[T0, 1, 2, 0.5, 1.5, 10]]  # ignores since: the same old row again

    venue, stale = _venue(Stale(now_ms=T0 + 100 * HOUR_MS))
    assert await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, 2, 0, tzinfo=UTC)) == []
    assert len([c for c in stale.calls if c[0] == "fetch_ohlcv"]) == 1


async def test_an_interval_the_exchange_lacks_is_named_with_the_ones_it_has() -> None:
    venue, exchange = _venue()
    with pytest.raises(VenueError) as raised:
        await venue.bars("BTC/USDT", "4h", datetime(2025, 12, 1, tzinfo=UTC))
    assert str(raised.value) == "ccxt:binance has no '4h' bars (it has 1h, 1d)"
    exchange.fail["fetch_time"] = ccxt.RequestTimeout("slow")
    with pytest.raises(VenueUnavailable, match="did not answer fetching the time"):
        await venue.bars("BTC/USDT", "1h", datetime(2025, 12, 1, tzinfo=UTC))
    exchange.fail = {"fetch_ohlcv": ccxt.RequestTimeout("slow")}
    with pytest.raises(VenueUnavailable, match="did not answer fetching 1h bars of BTC/USDT"):
        await venue.bars("BTC/USDT", "1h", datetime(2025, 11, 1, tzinfo=UTC))


async def test_close_closes_the_client_and_errors_never_carry_the_keys() -> None:
    venue, exchange = _venue()
    exchange.fail["fetch_balance"] = ccxt.ExchangeError("binance GET /account?signature=abc key topsecret")
    with pytest.raises(VenueError) as raised:
        await venue.positions()
    assert "topsecret" not in str(raised.value) and "signature" not in str(raised.value)
    await venue.close()
    assert exchange.closed
