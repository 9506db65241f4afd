"""The Alpaca adapter (``trader/venues/alpaca.py``) with an in-memory stand-in for alpaca-py's clients.

The emulator tests (tests/integration/live) prove the wire; they are too slow for ``./dev
mutation``. Here the SDK clients are replaced by small fakes that keep what they were asked, so
what a trader would notice shows: a sell sent as a buy, the client order id or time in force
lost, an order POST retried by the SDK or by us (a 504 after the venue accepted it would buy
twice), a read not retried through a short outage, a short position counted as long, a crypto
position under a symbol the bot does not trade, a fill price or status misread, an error mapped
to the wrong kind (a rejection retried, an outage treated as a refusal, a duplicate resent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderType, QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from requests.adapters import HTTPAdapter

from trader.venue import (
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    Position,
    SymbolRules,
    UnknownSymbol,
    VenueAuthError,
    VenueOrder,
    VenueUnavailable,
)
from trader.venues import alpaca
from trader.venues.alpaca import AlpacaVenue, bot_symbol

NEW_YORK = timezone(timedelta(hours=-5))


def api_error(status: int | None, code: int | None = None, message: str = "nope", body: str | None = None) -> APIError:
    text = body if body is not None else json.dumps({"code": code, "message": message})
    http_error = None if status is None else SimpleNamespace(response=SimpleNamespace(status_code=status))
    return APIError(text, http_error)


def alpaca_order(**fields: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "client_order_id": "c1",
        "id": "9b2f-uuid",
        "symbol": "SPY",
        "side": OrderSide.BUY,
        "qty": "10",
        "filled_qty": "4",
        "filled_avg_price": "501.25",
        "status": SimpleNamespace(value="partially_filled"),
        "submitted_at": datetime(2026, 12, 3, 14, 30, tzinfo=UTC),
    }
    return SimpleNamespace(**(base | fields))


@dataclass
class FakeTrading:
    """What AlpacaVenue calls on alpaca-py's TradingClient; ``fail`` pops one error per call."""

    orders: dict[str, SimpleNamespace] = field(default_factory=dict)
    fail: list[Exception] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    answer: Any = None

    def _maybe_fail(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.fail:
            raise self.fail.pop(0)

    def submit_order(self, request: Any) -> SimpleNamespace:
        self._maybe_fail("submit_order", request)
        side = request.side
        placed = alpaca_order(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=side,
            qty=str(request.qty),
            filled_qty="0",
            filled_avg_price=None,
            status=SimpleNamespace(value="new"),
        )
        self.orders[request.client_order_id] = placed
        return placed

    def get_order_by_client_id(self, client_order_id: str) -> SimpleNamespace:
        self._maybe_fail("get_order_by_client_id", client_order_id)
        if client_order_id not in self.orders:
            raise api_error(404, 40410000, "order not found")
        return self.orders[client_order_id]

    def get_orders(self, request: Any) -> list[SimpleNamespace]:
        self._maybe_fail("get_orders", request)
        return list(self.orders.values())

    def cancel_order_by_id(self, order_id: str) -> None:
        self._maybe_fail("cancel_order_by_id", order_id)

    def get_all_positions(self) -> Any:
        self._maybe_fail("get_all_positions", None)
        return self.answer

    def get_account(self) -> Any:
        self._maybe_fail("get_account", None)
        return self.answer

    def get_asset(self, symbol: str) -> Any:
        self._maybe_fail("get_asset", symbol)
        return self.answer

    def get_clock(self) -> Any:
        self._maybe_fail("get_clock", None)
        return self.answer


@dataclass
class FakeThreads:
    """Stands in for ``asyncio`` in the adapter: the SDK call runs inline, sleeps are recorded."""

    sleeps: list[float] = field(default_factory=list)

    async def to_thread(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> FakeThreads:
    fake = FakeThreads()
    monkeypatch.setattr(alpaca, "asyncio", fake)
    return fake


@pytest.fixture
def trading() -> FakeTrading:
    return FakeTrading()


@pytest.fixture
def venue(trading: FakeTrading, threads: FakeThreads) -> AlpacaVenue:
    built = AlpacaVenue("key", "secret", paper=True, base_url="http://127.0.0.1:1")
    built._trading = trading
    return built


# ---- the clients it builds -------------------------------------------------------------


def test_the_sdk_clients_never_retry_and_always_time_out() -> None:
    built = AlpacaVenue("key", "secret", paper=False)
    assert built.name == "alpaca" and built.paper is False
    assert AlpacaVenue("key", "secret", paper=True).name == "alpaca paper"
    for client in (built._trading, built._stocks, built._crypto):
        assert client._retry == 0
        for scheme in ("http://", "https://"):
            assert isinstance(client._session.get_adapter(f"{scheme}example.com"), alpaca._TimeoutAdapter)


def test_the_clients_use_the_keys_the_endpoint_and_paper_or_live() -> None:
    emulated = AlpacaVenue("key", "secret", paper=False, base_url="http://127.0.0.1:9")
    for client in (emulated._trading, emulated._stocks, emulated._crypto):
        assert (client._api_key, client._secret_key, client._base_url) == ("key", "secret", "http://127.0.0.1:9")
    paper = AlpacaVenue("key", "secret", paper=True)._trading._base_url
    live = AlpacaVenue("key", "secret", paper=False)._trading._base_url
    assert (paper.value, live.value) == ("https://paper-api.alpaca.markets", "https://api.alpaca.markets")


def test_a_request_without_a_timeout_gets_ten_seconds_and_one_with_a_timeout_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(
        HTTPAdapter, "send", lambda self, request, **kwargs: seen.append((request, kwargs.get("timeout")))
    )
    adapter = alpaca._TimeoutAdapter()
    adapter.send("r1")
    adapter.send("r2", timeout=None)
    adapter.send("r3", timeout=3.0)
    assert seen == [("r1", 10.0), ("r2", 10.0), ("r3", 3.0)]


@pytest.mark.parametrize(
    ("venue_symbol", "crypto", "expected"),
    [
        ("BTCUSD", True, "BTC/USD"),
        ("ETHUSDT", True, "ETH/USDT"),
        ("SOLUSDC", True, "SOL/USDC"),
        ("ETHBTC", True, "ETH/BTC"),
        ("BTC/USD", True, "BTC/USD"),
        ("USD", True, "USD"),
        ("DOGE", True, "DOGE"),
        ("AUSD", False, "AUSD"),
        ("SPY", False, "SPY"),
    ],
)
def test_crypto_symbols_come_back_in_the_bots_form(venue_symbol: str, crypto: bool, expected: str) -> None:
    assert bot_symbol(venue_symbol, crypto=crypto) == expected


# ---- orders ----------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "alpaca_side"), [("buy", OrderSide.BUY), ("sell", OrderSide.SELL)])
async def test_an_order_is_sent_once_as_a_market_order_with_its_id_side_and_time_in_force(
    venue: AlpacaVenue, trading: FakeTrading, side: str, alpaca_side: OrderSide
) -> None:
    placed = await venue.submit(OrderRequest("bot1-20261203-0", "SPY", side, 7.0, "opg"))  # type: ignore[arg-type]
    ((name, request),) = trading.calls
    assert name == "submit_order"
    assert request.type == OrderType.MARKET
    assert (request.symbol, request.qty, request.side) == ("SPY", 7.0, alpaca_side)
    assert request.time_in_force == AlpacaTimeInForce.OPG
    assert request.client_order_id == "bot1-20261203-0"
    assert placed.client_order_id == "bot1-20261203-0" and placed.side == side and placed.status == "new"


async def test_a_limit_order_carries_its_price(venue: AlpacaVenue, trading: FakeTrading) -> None:
    await venue.submit(OrderRequest("c1", "BTC/USD", "buy", 0.5, "gtc", limit_price=50_000.0))
    request = trading.calls[0][1]
    assert request.type == OrderType.LIMIT and request.limit_price == 50_000.0
    assert request.time_in_force == AlpacaTimeInForce.GTC and request.client_order_id == "c1"


async def test_an_order_post_that_times_out_is_not_retried(
    venue: AlpacaVenue, trading: FakeTrading, threads: FakeThreads
) -> None:
    trading.fail = [api_error(504)]
    with pytest.raises(VenueUnavailable) as raised:
        await venue.submit(OrderRequest("c1", "SPY", "buy", 1.0, "day"))
    assert str(raised.value) == "alpaca paper answered 504 to order c1"
    assert len(trading.calls) == 1 and threads.sleeps == []


async def test_a_duplicate_client_order_id_is_reported_as_such(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.fail = [api_error(422, 40010001, "client_order_id must be unique")]
    with pytest.raises(DuplicateClientOrderId) as raised:
        await venue.submit(OrderRequest("c1", "SPY", "buy", 1.0, "day"))
    assert str(raised.value) == "alpaca paper already has order c1"


async def test_a_refused_order_is_a_rejection_with_the_venues_words(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.fail = [api_error(403, 40310000, "insufficient buying power")]
    with pytest.raises(OrderRejected) as raised:
        await venue.submit(OrderRequest("c1", "SPY", "buy", 1.0, "day"))
    assert type(raised.value) is OrderRejected
    assert str(raised.value) == "alpaca paper refused order c1: insufficient buying power"
    assert len(trading.calls) == 1


async def test_a_lookup_reads_the_order_back_and_a_missing_one_is_none(
    venue: AlpacaVenue, trading: FakeTrading
) -> None:
    trading.orders["c1"] = alpaca_order(side=SimpleNamespace(value="sell"))
    found = await venue.order_by_client_id("c1", "SPY")
    assert found == VenueOrder(
        client_order_id="c1",
        venue_order_id="9b2f-uuid",
        symbol="SPY",
        side="sell",
        quantity=10.0,
        filled_quantity=4.0,
        average_price=501.25,
        status="partially_filled",
        submitted_at="2026-12-03T14:30:00+00:00",
    )
    assert await venue.order_by_client_id("c2", "SPY") is None
    assert trading.calls == [("get_order_by_client_id", "c1"), ("get_order_by_client_id", "c2")]


@pytest.mark.parametrize(
    ("alpaca_status", "status"),
    [
        ("new", "new"),
        ("accepted", "new"),
        ("pending_new", "new"),
        ("partially_filled", "partially_filled"),
        ("filled", "filled"),
        ("canceled", "canceled"),
        ("replaced", "canceled"),
        ("expired", "expired"),
        ("done_for_day", "expired"),
        ("rejected", "rejected"),
    ],
)
async def test_order_statuses_map_to_ours(
    venue: AlpacaVenue, trading: FakeTrading, alpaca_status: str, status: str
) -> None:
    trading.orders["c1"] = alpaca_order(status=SimpleNamespace(value=alpaca_status))
    found = await venue.order_by_client_id("c1", "SPY")
    assert found is not None and found.status == status


async def test_a_plain_string_status_is_read_too(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.orders["c1"] = alpaca_order(status="filled")
    found = await venue.order_by_client_id("c1", "SPY")
    assert found is not None and found.status == "filled"


async def test_an_unfilled_order_has_no_price_and_zero_filled(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.orders["c1"] = alpaca_order(
        status="new", side="buy", qty=None, filled_qty=None, filled_avg_price=None, submitted_at=None
    )
    found = await venue.order_by_client_id("c1", "SPY")
    assert found is not None
    assert (found.side, found.status, found.quantity, found.filled_quantity) == ("buy", "new", 0.0, 0.0)
    assert found.average_price is None and found.submitted_at is None


async def test_a_lookup_is_retried_through_a_short_outage_backing_off(
    venue: AlpacaVenue, trading: FakeTrading, threads: FakeThreads
) -> None:
    trading.orders["c1"] = alpaca_order()
    trading.fail = [api_error(429), api_error(503), requests.ConnectionError("reset")]
    found = await venue.order_by_client_id("c1", "SPY")
    assert found is not None and found.client_order_id == "c1"
    assert threads.sleeps == [0.25, 0.5, 1.0]


async def test_a_read_gives_up_after_five_attempts_with_the_last_error(
    venue: AlpacaVenue, trading: FakeTrading, threads: FakeThreads
) -> None:
    trading.fail = [api_error(503)] * 4 + [requests.Timeout("slow")]
    with pytest.raises(VenueUnavailable) as raised:
        await venue.order_by_client_id("c1", "SPY")
    assert str(raised.value) == "alpaca paper did not answer the lookup of order c1: Timeout"
    assert len(trading.calls) == 5 and threads.sleeps == [0.25, 0.5, 1.0, 2.0]


async def test_a_refused_read_is_not_retried(venue: AlpacaVenue, trading: FakeTrading, threads: FakeThreads) -> None:
    trading.fail = [api_error(401, 40110000, "access key verification failed")]
    with pytest.raises(VenueAuthError) as raised:
        await venue.order_by_client_id("c1", "SPY")
    assert str(raised.value) == (
        "alpaca paper refused the API keys (access key verification failed): check the connection's key id and secret"
    )
    assert len(trading.calls) == 1 and threads.sleeps == []


async def test_open_orders_are_asked_for_the_bots_symbols(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.orders = {"c1": alpaca_order(), "c2": alpaca_order(client_order_id="c2", symbol="QQQ")}
    found = await venue.open_orders(["SPY", "QQQ"])
    assert [o.client_order_id for o in found] == ["c1", "c2"]
    request = trading.calls[0][1]
    assert request.status == QueryOrderStatus.OPEN and request.symbols == ["SPY", "QQQ"] and request.limit == 500


async def test_cancel_uses_the_venues_order_id_and_an_order_already_gone_is_fine(
    venue: AlpacaVenue, trading: FakeTrading
) -> None:
    order = VenueOrder("c1", "9b2f-uuid", "SPY", "buy", 1.0, 0.0, None, "new")
    await venue.cancel(order)
    trading.fail = [api_error(404, 40410000, "order not found")]
    await venue.cancel(order)
    assert trading.calls == [("cancel_order_by_id", "9b2f-uuid")] * 2
    trading.fail = [api_error(422, 42210000, "order is not cancelable")]
    with pytest.raises(OrderRejected, match="refused the cancel of c1: order is not cancelable"):
        await venue.cancel(order)


# ---- error mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (api_error(401, 40110000, "bad key"), VenueAuthError, "alpaca refused the API keys (bad key): check"),
        (api_error(403, 40310001, "forbidden"), VenueAuthError, "alpaca refused the API keys (forbidden)"),
        (api_error(403, 40310000, "insufficient buying power"), OrderRejected, "alpaca refused x: insufficient"),
        (api_error(404, 40410000, "gone"), alpaca._NotFound, "alpaca: x found nothing"),
        (api_error(429, 42910000, "slow down"), VenueUnavailable, "alpaca answered 429 to x"),
        (api_error(500), VenueUnavailable, "alpaca answered 500 to x"),
        (api_error(499, 49900000, "client closed"), OrderRejected, "alpaca refused x: client closed"),
        (api_error(422, 40010001, "dup"), DuplicateClientOrderId, "alpaca already has x"),
        (api_error(422, 40010000, "qty must be > 0"), OrderRejected, "alpaca refused x: qty must be > 0"),
        (api_error(None, 40010001, "dup"), DuplicateClientOrderId, "alpaca already has x"),
        (api_error(400, body="<html>bad gateway</html>"), OrderRejected, "alpaca refused x: <html>bad gateway</html>"),
        (api_error(400, body='{"code": 1}'), OrderRejected, 'alpaca refused x: {"code": 1}'),
    ],
)
def test_alpaca_errors_map_to_what_the_bot_does_next(error: APIError, kind: type, text: str) -> None:
    mapped = alpaca._mapped(error, "alpaca", "x")
    assert type(mapped) is kind
    assert str(mapped).startswith(text)


def test_an_unreadable_error_body_is_cut_to_200_characters() -> None:
    mapped = alpaca._mapped(api_error(400, body="x" * 500), "alpaca", "x")
    assert str(mapped) == "alpaca refused x: " + "x" * 200


# ---- reads -----------------------------------------------------------------------------


async def test_positions_are_signed_and_crypto_ones_keyed_like_the_bots_symbols(
    venue: AlpacaVenue, trading: FakeTrading
) -> None:
    trading.answer = [
        SimpleNamespace(
            symbol="SPY", asset_class=SimpleNamespace(value="us_equity"), side="long", qty="10", avg_entry_price="500"
        ),
        SimpleNamespace(
            symbol="TSLA", asset_class="us_equity", side=SimpleNamespace(value="short"), qty="-3", avg_entry_price="250"
        ),
        SimpleNamespace(symbol="BTCUSD", asset_class="crypto", side="long", qty="0.5", avg_entry_price="50000"),
        SimpleNamespace(
            symbol="ETHUSD", asset_class=SimpleNamespace(value="crypto"), side="short", qty="2", avg_entry_price="3000"
        ),
    ]
    assert await venue.positions() == {
        "SPY": Position("SPY", 10.0, 500.0),
        "TSLA": Position("TSLA", -3.0, 250.0),
        "BTC/USD": Position("BTC/USD", 0.5, 50_000.0),
        "ETH/USD": Position("ETH/USD", -2.0, 3_000.0),
    }


async def test_the_account_says_paper_or_live(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.answer = SimpleNamespace(cash="1234.5", equity="2000")
    account = await venue.account()
    assert (account.cash, account.equity, account.paper) == (1234.5, 2000.0, True)
    trading.answer = SimpleNamespace(cash=None, equity=None)
    account = await venue.account()
    assert (account.cash, account.equity) == (0.0, 0.0)


async def test_stocks_trade_in_whole_shares_and_crypto_in_its_increment(
    venue: AlpacaVenue, trading: FakeTrading
) -> None:
    trading.answer = SimpleNamespace(tradable=True, asset_class=SimpleNamespace(value="us_equity"))
    assert await venue.rules("SPY") == SymbolRules("SPY", min_quantity=1.0, quantity_step=1.0, price_tick=0.01)
    trading.answer = SimpleNamespace(
        tradable=True,
        asset_class="crypto",
        min_order_size="0.0001",
        min_trade_increment="0.000001",
        price_increment="1",
    )
    assert await venue.rules("BTC/USD") == SymbolRules(
        "BTC/USD", min_quantity=0.0001, quantity_step=0.000001, price_tick=1.0
    )
    trading.answer = SimpleNamespace(
        tradable=True, asset_class="crypto", min_order_size=None, min_trade_increment=None, price_increment=None
    )
    assert await venue.rules("BTCUSD") == SymbolRules("BTCUSD")
    trading.answer = SimpleNamespace(
        tradable=True,
        asset_class=SimpleNamespace(value="crypto"),
        min_order_size="0.01",
        min_trade_increment="0.01",
        price_increment="0.1",
    )
    assert await venue.rules("SOLUSD") == SymbolRules("SOLUSD", min_quantity=0.01, quantity_step=0.01, price_tick=0.1)
    trading.answer = SimpleNamespace(
        tradable=True, asset_class="us_equity", min_order_size="2", min_trade_increment="0.5", price_increment="0.1"
    )
    assert await venue.rules("ETH/USD") == SymbolRules("ETH/USD", min_quantity=2.0, quantity_step=0.5, price_tick=0.1)


async def test_an_unknown_or_untradable_symbol_says_so(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.fail = [api_error(404, 40410000, "asset not found")]
    with pytest.raises(UnknownSymbol) as raised:
        await venue.rules("NOPE")
    assert str(raised.value) == "alpaca paper does not list 'NOPE': check market.symbols"
    trading.fail = [api_error(422, 42210000, "invalid symbol")]
    with pytest.raises(UnknownSymbol, match="does not list 'N0PE'"):
        await venue.rules("N0PE")
    trading.answer = SimpleNamespace(tradable=False, asset_class="us_equity")
    with pytest.raises(UnknownSymbol) as raised:
        await venue.rules("OTC")
    assert str(raised.value) == "alpaca paper lists 'OTC' but it is not tradable"
    assert trading.calls[-1] == ("get_asset", "OTC")


async def test_the_clock_is_in_utc(venue: AlpacaVenue, trading: FakeTrading) -> None:
    trading.answer = SimpleNamespace(
        timestamp=datetime(2026, 12, 3, 9, 0, tzinfo=NEW_YORK),
        is_open=1,
        next_open=datetime(2026, 12, 4, 9, 30, tzinfo=NEW_YORK),
        next_close=datetime(2026, 12, 3, 16, 0, tzinfo=NEW_YORK),
    )
    clock = await venue.clock()
    assert clock.now == datetime(2026, 12, 3, 14, 0, tzinfo=UTC) and clock.now.tzinfo is UTC
    assert clock.is_open is True
    assert clock.next_open == datetime(2026, 12, 4, 14, 30, tzinfo=UTC) and clock.next_open.tzinfo is UTC
    assert clock.next_close == datetime(2026, 12, 3, 21, 0, tzinfo=UTC) and clock.next_close.tzinfo is UTC


@dataclass
class FakeBars:
    symbol: str
    requests: list[Any] = field(default_factory=list)

    def _bars(self, request: Any) -> SimpleNamespace:
        self.requests.append(request)
        bar = SimpleNamespace(
            timestamp=datetime(2026, 12, 3, 0, 0, tzinfo=NEW_YORK), open=1, high=2, low=0.5, close=1.5, volume=10
        )
        return SimpleNamespace(data={self.symbol: [bar]})

    get_stock_bars = _bars
    get_crypto_bars = _bars


@pytest.mark.parametrize(("symbol", "client"), [("SPY", "_stocks"), ("BTC/USD", "_crypto")])
async def test_bars_come_from_the_right_data_client_in_utc(venue: AlpacaVenue, symbol: str, client: str) -> None:
    fake = FakeBars(symbol)
    other = FakeBars("none")
    setattr(venue, client, fake)
    setattr(venue, "_crypto" if client == "_stocks" else "_stocks", other)
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC)
    (bar,) = await venue.bars(symbol, "4h", start, end)
    assert (bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        datetime(2026, 12, 3, 5, 0, tzinfo=UTC),
        1.0,
        2.0,
        0.5,
        1.5,
        10.0,
    )
    assert bar.start.tzinfo is UTC
    (request,) = fake.requests
    assert other.requests == []
    # alpaca-py keeps the window as naive UTC
    assert request.symbol_or_symbols == symbol
    assert (request.start, request.end) == (start.replace(tzinfo=None), end.replace(tzinfo=None))
    assert (request.timeframe.amount_value, request.timeframe.unit_value.value) == (4, "Hour")


def test_the_bar_intervals_are_alpacas_timeframes() -> None:
    assert {name: (tf.amount_value, tf.unit_value.value) for name, tf in alpaca.TIMEFRAMES.items()} == {
        "1m": (1, "Min"),
        "5m": (5, "Min"),
        "15m": (15, "Min"),
        "1h": (1, "Hour"),
        "4h": (4, "Hour"),
        "1d": (1, "Day"),
    }


async def test_close_closes_every_sdk_session(venue: AlpacaVenue) -> None:
    closed: list[str] = []
    for name in ("_trading", "_stocks", "_crypto"):
        setattr(venue, name, SimpleNamespace(_session=SimpleNamespace(close=lambda name=name: closed.append(name))))
    await venue.close()
    assert closed == ["_trading", "_stocks", "_crypto"]


async def test_no_bars_for_the_symbol_is_an_empty_list(venue: AlpacaVenue) -> None:
    venue._stocks = FakeBars("OTHER")
    assert await venue.bars("SPY", "1d", datetime(2026, 12, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda v: v.account(), "the account request"),
        (lambda v: v.positions(), "the positions request"),
        (lambda v: v.clock(), "the clock request"),
        (lambda v: v.open_orders(["SPY"]), "the open-orders request"),
        (lambda v: v.rules("SPY"), "the asset request for SPY"),
        (lambda v: v.bars("SPY", "1d", datetime(2026, 12, 1, tzinfo=UTC)), "bars for SPY"),
        (lambda v: v.bars("BTC/USD", "1d", datetime(2026, 12, 1, tzinfo=UTC)), "bars for BTC/USD"),
    ],
)
async def test_an_outage_says_which_request_went_unanswered(
    venue: AlpacaVenue, trading: FakeTrading, call: Any, what: str
) -> None:
    down = FakeTrading(fail=[api_error(503)] * 5)

    def unavailable(*args: Any) -> Any:
        down._maybe_fail("data", args)

    venue._stocks = SimpleNamespace(get_stock_bars=unavailable)
    venue._crypto = SimpleNamespace(get_crypto_bars=unavailable)
    trading.fail = [api_error(503)] * 5
    with pytest.raises(VenueUnavailable) as raised:
        await call(venue)
    assert str(raised.value) == f"alpaca paper answered 503 to {what}"
