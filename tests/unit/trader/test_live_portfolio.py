"""A live portfolio bot: bars only when every symbol has them, rules and reconciliation per symbol."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.venue import FakeVenue
from trader.broker import Order, PaperBroker
from trader.execution import OrderJournal, VenueExecution
from trader.live_feed import VenueBookFeed, VenueFeed
from trader.live_session import LiveSession
from trader.live_state import LiveState, Outstanding
from trader.reconcile import reconcile
from trader.venue import OrderRequest, SymbolRules, UnknownSymbol, VenueBar, VenueClock, VenueOrder

HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")


def _bar(start: datetime, close: float = 100.0) -> VenueBar:
    return VenueBar(start, close, close + 1, close - 1, close, 10.0)


@dataclass
class BookVenue(FakeVenue):
    """Bars per symbol on a settable clock, and rules per symbol."""

    now: datetime = T0
    served: dict[str, list[VenueBar]] = field(default_factory=dict)
    rules_by_symbol: dict[str, SymbolRules] = field(default_factory=dict)

    async def clock(self) -> VenueClock:
        return VenueClock(self.now, True)

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        return [bar for bar in self.served.get(symbol, []) if bar.start >= start]

    async def rules(self, symbol: str) -> SymbolRules:
        return self.rules_by_symbol.get(symbol) or SymbolRules(symbol)


def _book_feed(venue: BookVenue, cache: Path) -> VenueBookFeed:
    return VenueBookFeed([VenueFeed(venue, s, "1h", cache, warmup_bars=50, crypto=True) for s in SYMBOLS])


def _hours(n: int, close: float = 100.0) -> list[VenueBar]:
    return [_bar(T0 + i * HOUR, close + i) for i in range(n)]


async def test_a_bar_counts_only_once_every_symbol_has_it(tmp_path: Path) -> None:
    venue = BookVenue(now=T0 + 6 * HOUR, served={"BTC/USD": _hours(6), "ETH/USD": _hours(6), "SOL/USD": _hours(4)})
    feed = _book_feed(venue, tmp_path)
    bars = await feed.available()
    assert list(bars) == list(SYMBOLS)
    assert {symbol: len(series) for symbol, series in bars.items()} == dict.fromkeys(SYMBOLS, 4)
    assert all(series.dates == bars["BTC/USD"].dates for series in bars.values())
    assert not feed.is_fresh(3, venue.now)  # SOL's 03:00 bar is no longer the newest BTC and ETH have
    venue.served["SOL/USD"] = _hours(6)
    bars = await feed.available()
    assert len(bars["SOL/USD"]) == 6 and feed.is_fresh(5, venue.now)


async def test_a_restart_serves_the_same_bars_at_the_same_indices(tmp_path: Path) -> None:
    venue = BookVenue(now=T0 + 6 * HOUR, served={"BTC/USD": _hours(6), "ETH/USD": _hours(5), "SOL/USD": _hours(6)})
    before = await _book_feed(venue, tmp_path).available()
    venue.served["ETH/USD"] = _hours(6)
    after = await _book_feed(venue, tmp_path).available()  # a new process reads the caches
    for symbol in SYMBOLS:
        assert after[symbol].dates[:5] == before[symbol].dates
        assert list(after[symbol].close[:5]) == list(before[symbol].close)


async def test_a_symbol_whose_bars_stop_holds_the_whole_bot_and_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    venue = BookVenue(now=T0 + 4 * HOUR, served={s: _hours(4) for s in SYMBOLS})
    feed = _book_feed(venue, tmp_path)
    have = len((await feed.available())["BTC/USD"])
    session = LiveSession(venue, feed, OrderJournal(tmp_path / "j"), symbols=SYMBOLS, crypto=True, poll_s=0.01)
    venue.served["BTC/USD"] = _hours(7)
    venue.served["SOL/USD"] = _hours(7)
    venue.now = T0 + 7 * HOUR  # ETH's 04:00 bar was due at 05:00 and never came
    stop = asyncio.Event()
    waiting = asyncio.create_task(session.next_bars(have, stop))

    async def announced() -> None:
        while not session.notes:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(announced(), timeout=30)
    assert not waiting.done()  # BTC and SOL have new bars, but nothing is served without ETH's
    venue.served["ETH/USD"] = _hours(7)
    bars = await asyncio.wait_for(waiting, timeout=30)
    assert bars is not None and {len(series) for series in bars.values()} == {7}
    assert len(session.notes) == 1 and "ETH/USD" in session.notes[0] and "all 3 symbols wait" in session.notes[0]
    assert capsys.readouterr().out.count("stale:") == 1


async def test_an_untradable_symbol_stops_the_bot_before_any_order_and_names_it(tmp_path: Path) -> None:
    venue = BookVenue(rules_by_symbol={"ETH/USD": SymbolRules("ETH/USD", tradable=False)})
    session = LiveSession(
        venue, _book_feed(venue, tmp_path), OrderJournal(tmp_path / "j"), symbols=SYMBOLS, crypto=True, poll_s=1
    )
    with pytest.raises(UnknownSymbol, match="'ETH/USD' but it is not tradable"):
        await session.start(None, {}, LiveState())  # type: ignore[arg-type]  # stops before the book is read
    assert venue.submits == 0


async def test_each_order_is_fitted_to_its_own_symbols_rules(tmp_path: Path) -> None:
    venue = BookVenue(
        rules_by_symbol={
            "SPY": SymbolRules("SPY", min_quantity=1.0, quantity_step=1.0),
            "BTC/USD": SymbolRules("BTC/USD", quantity_step=0.001),
        }
    )
    execution = VenueExecution(venue, OrderJournal(tmp_path / "j"), LiveState(), crypto=False)
    orders = [Order("a", "SPY", "buy", 10.7, "d"), Order("b", "BTC/USD", "buy", 0.12345, "d")]
    await execution.send(orders, prices={"SPY": 500.0, "BTC/USD": 60_000.0}, fresh=True)
    assert (venue.orders["a"].quantity, venue.orders["b"].quantity) == (10.0, pytest.approx(0.123))


async def test_sells_go_before_buys_and_a_spot_exchanges_buys_wait_for_them_to_fill(tmp_path: Path) -> None:
    submitted: list[tuple[str, str, bool]] = []  # (side, symbol, every sell already filled)

    class SpotVenue(BookVenue):
        async def submit(self, order: OrderRequest) -> VenueOrder:
            filled = all(o.status == "filled" for o in self.orders.values() if o.side == "sell")
            submitted.append((order.side, order.symbol, filled))
            return await super().submit(order)

        async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
            found = self.orders.get(client_order_id)
            if found is not None and found.side == "sell" and not found.done:
                self.fill(client_order_id, found.quantity, 100.0)  # the exchange fills it a moment later
            return self.orders.get(client_order_id)

    venue = SpotVenue()
    execution = VenueExecution(venue, OrderJournal(tmp_path / "j"), LiveState(), crypto=True, sell_fill_wait_s=30)
    orders = [
        Order("b1", "BTC/USD", "buy", 1.0, "d"),
        Order("s1", "ETH/USD", "sell", 2.0, "d"),
        Order("b2", "SOL/USD", "buy", 3.0, "d"),
        Order("s2", "BTC/USD", "sell", 1.0, "d"),
    ]
    executions = await execution.send(orders, prices=dict.fromkeys(SYMBOLS, 100.0), fresh=True)
    assert [e["client_order_id"] for e in executions] == ["s1", "s2", "b1", "b2"]
    assert submitted == [
        ("sell", "ETH/USD", True),
        ("sell", "BTC/USD", False),  # sells do not wait for each other
        ("buy", "BTC/USD", True),
        ("buy", "SOL/USD", True),
    ]


async def _reconciled(
    tmp_path: Path, venue: FakeVenue, book: PaperBroker, live: LiveState, *, adopt: bool = False
) -> object:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    prices = {"SPY": 500.0, "QQQ": 400.0, "IWM": 200.0}
    return await reconcile(venue, book, live, journal, symbols=("SPY", "QQQ", "IWM"), prices=prices, adopt=adopt)


def _book(**positions: float) -> PaperBroker:
    return PaperBroker(cash=10_000.0, positions={"SPY": 0.0, "QQQ": 0.0, "IWM": 0.0} | positions)


async def test_a_portfolio_that_matches_the_venue_in_every_symbol_trades_on(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 3.0, "QQQ": 2.0, "TSLA": 9.0})  # TSLA: another bot's symbol in this account
    result = await _reconciled(tmp_path, venue, _book(SPY=3.0, QQQ=2.0), LiveState())
    assert result.halt is None  # type: ignore[attr-defined]


async def test_a_stranger_position_in_one_symbol_halts_naming_that_symbol(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 3.0, "QQQ": 2.0, "IWM": 5.0})
    result = await _reconciled(tmp_path, venue, _book(SPY=3.0, QQQ=2.0), LiveState())
    halt = result.halt  # type: ignore[attr-defined]
    assert halt is not None and "holds 5 IWM" in halt and "explain 0" in halt
    assert "SPY" not in halt and "QQQ" not in halt


async def test_adopting_sets_only_the_differing_symbols_position(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 3.0, "QQQ": 2.0, "IWM": 5.0})
    book = _book(SPY=3.0, QQQ=2.0)
    result = await _reconciled(tmp_path, venue, book, LiveState(), adopt=True)
    assert result.halt is None  # type: ignore[attr-defined]
    assert book.positions == {"SPY": 3.0, "QQQ": 2.0, "IWM": 5.0} and book.cash == 10_000.0 - 5 * 200.0


async def test_an_open_order_the_bot_did_not_place_in_any_symbol_halts_naming_it(tmp_path: Path) -> None:
    venue = FakeVenue()
    await venue.submit(OrderRequest("someone-else", "QQQ", "sell", 3.0))
    result = await _reconciled(tmp_path, venue, _book(), LiveState())
    halt = result.halt  # type: ignore[attr-defined]
    assert halt is not None and "order for QQQ" in halt and "did not place" in halt


async def test_a_crashed_runs_orders_in_several_symbols_are_all_explained(tmp_path: Path) -> None:
    venue = FakeVenue()
    journal = OrderJournal(tmp_path / "orders.jsonl")
    for client_order_id, symbol, quantity in (("o1", "SPY", 3.0), ("o2", "QQQ", 2.0)):
        journal.record(Order(client_order_id, symbol, "buy", quantity, "d"))
        await venue.submit(OrderRequest(client_order_id, symbol, "buy", quantity))
        venue.fill(client_order_id, quantity, 100.0)
    checkpointed = Outstanding(Order("o0", "IWM", "buy", 4.0, "c"))
    await venue.submit(OrderRequest("o0", "IWM", "buy", 4.0))
    venue.fill("o0", 4.0, 100.0)
    live = LiveState(outstanding={"o0": checkpointed}, journaled=0)
    result = await _reconciled(tmp_path, venue, _book(), live)
    assert result.halt is None  # type: ignore[attr-defined]
    assert result.expected_quantities == {"SPY": 3.0, "QQQ": 2.0, "IWM": 4.0}  # type: ignore[attr-defined]
