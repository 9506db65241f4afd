"""Exactly-once orders, fills from cumulative order states, and start-up reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.venue import FakeVenue
from trader.broker import Order, PaperBroker
from trader.execution import OrderJournal, VenueExecution, place_once, time_in_force
from trader.live_state import LiveState, Outstanding
from trader.reconcile import reconcile
from trader.venue import OrderRequest, SymbolRules, VenueClock, VenueUnavailable

BUY = Order("c1", "SPY", "buy", 10.0, "2026-12-03")


def _execution(tmp_path: Path, venue: FakeVenue, live: LiveState | None = None) -> VenueExecution:
    return VenueExecution(venue, OrderJournal(tmp_path / "orders.jsonl"), live or LiveState(), crypto=False)


async def test_an_order_accepted_before_an_outage_is_found_not_sent_again() -> None:
    venue = FakeVenue(accept_then_fail=1)
    placed = await place_once(venue, OrderRequest("c1", "SPY", "buy", 10.0), maybe_sent=False, wait_s=0)
    assert len(venue.orders) == 1 and placed.client_order_id == "c1"
    assert venue.submits == 1  # found by the lookup after the outage: no resend


async def test_nothing_is_resent_until_a_lookup_has_answered() -> None:
    venue = FakeVenue(accept_then_fail=1, refuse_lookups=2)  # the order got in; the first two lookups time out
    placed = await place_once(venue, OrderRequest("c1", "SPY", "buy", 10.0), maybe_sent=False, wait_s=0)
    assert placed.client_order_id == "c1" and len(venue.orders) == 1
    assert venue.submits == 1  # a venue that forgets filled ids (Binance) would otherwise take it twice


async def test_an_order_the_venue_says_it_lacks_is_sent_again() -> None:
    class LosesFirst(FakeVenue):
        async def submit(self, order: OrderRequest) -> object:  # type: ignore[override]
            if self.submits == 0:
                self.submits += 1
                raise VenueUnavailable("connection reset before the venue saw it")
            return await super().submit(order)

    venue = LosesFirst()
    placed = await place_once(venue, OrderRequest("c1", "SPY", "buy", 10.0), maybe_sent=False, wait_s=0)
    assert placed.client_order_id == "c1" and venue.submits == 2 and len(venue.orders) == 1


async def test_a_journaled_order_is_looked_up_before_it_is_sent() -> None:
    venue = FakeVenue()
    await venue.submit(OrderRequest("c1", "SPY", "buy", 10.0))
    await place_once(venue, OrderRequest("c1", "SPY", "buy", 10.0), maybe_sent=True, wait_s=0)
    assert venue.submits == 1


async def test_an_outage_that_never_ends_is_an_error_not_a_loop() -> None:
    class Down(FakeVenue):
        async def submit(self, order: OrderRequest) -> object:  # type: ignore[override]
            self.submits += 1
            raise VenueUnavailable("down")

    venue = Down()
    with pytest.raises(VenueUnavailable, match="in 3 attempts"):
        await place_once(venue, OrderRequest("c1", "SPY", "buy", 1.0), maybe_sent=False, attempts=3, wait_s=0)
    assert venue.submits == 3


async def test_partial_fills_are_booked_once_each_and_add_up(tmp_path: Path) -> None:
    venue = FakeVenue()
    execution = _execution(tmp_path, venue)
    await execution.send([BUY], prices={"SPY": 100.0}, fresh=True)
    venue.fill("c1", 4.0, 100.0)
    first = await execution.collect_fills("b1")
    assert await execution.collect_fills("b1") == []  # polling again books nothing twice
    venue.fill("c1", 6.0, 110.0)
    second = await execution.collect_fills("b2")
    assert [(f.quantity, f.price) for f in first + second] == [(4.0, 100.0), (6.0, pytest.approx(110.0))]
    assert execution.live.outstanding == {}  # a filled order is finished
    book = PaperBroker(cash=10_000.0)
    for fill in first + second:
        book.apply(fill)
    assert book.position == 10.0 and book.cash == pytest.approx(10_000.0 - 400.0 - 660.0)


async def test_a_sell_fill_reduces_the_position_and_adds_cash() -> None:
    book = PaperBroker(cash=0.0, position=5.0)
    entry = Outstanding(Order("s1", "SPY", "sell", 5.0, "d"))
    venue = FakeVenue()
    await venue.submit(OrderRequest("s1", "SPY", "sell", 5.0))
    venue.fill("s1", 5.0, 50.0)
    fill = entry.fill_from(venue.orders["s1"], "d")
    assert fill is not None
    book.apply(fill)
    assert (book.position, book.cash) == (0.0, 250.0)


async def test_an_order_on_an_old_bar_is_not_sent(tmp_path: Path) -> None:
    venue = FakeVenue()
    executions = await _execution(tmp_path, venue).send([BUY], prices={"SPY": 100.0}, fresh=False)
    assert venue.submits == 0 and executions[0]["status"] == "not sent"


async def test_an_order_under_the_minimum_notional_is_skipped_with_the_reason(tmp_path: Path) -> None:
    venue = FakeVenue(rules_=SymbolRules("BTC/USDT", min_notional=5.0))
    execution = VenueExecution(venue, OrderJournal(tmp_path / "j"), LiveState(), crypto=True)
    tiny = Order("t1", "BTC/USDT", "buy", 0.00004, "d")
    executions = await execution.send([tiny], prices={"BTC/USDT": 65_000.0}, fresh=True)
    assert venue.submits == 0
    assert executions[0]["status"] == "skipped" and "minimum order of $5.00" in executions[0]["reason"]


async def test_the_quantity_sent_is_fitted_to_whole_shares(tmp_path: Path) -> None:
    venue = FakeVenue(rules_=SymbolRules("SPY", min_quantity=1.0, quantity_step=1.0))
    await _execution(tmp_path, venue).send([Order("c1", "SPY", "buy", 10.7, "d")], prices={"SPY": 100.0}, fresh=True)
    assert venue.orders["c1"].quantity == 10.0


def test_time_in_force_follows_the_market() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert time_in_force(crypto=True, clock=VenueClock(now, False)) == "gtc"
    assert time_in_force(crypto=False, clock=VenueClock(now, True)) == "day"
    assert time_in_force(crypto=False, clock=VenueClock(now, False)) == "opg"


async def _reconciled(
    tmp_path: Path, venue: FakeVenue, book: PaperBroker, live: LiveState, *, adopt: bool = False
) -> object:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    return await reconcile(venue, book, live, journal, symbols=("SPY",), prices={"SPY": 100.0}, adopt=adopt)


async def test_a_book_that_matches_the_venue_trades_on(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 10.0})
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0, position=10.0), LiveState())
    assert result.halt is None  # type: ignore[attr-defined]


async def test_a_position_changed_while_the_bot_was_down_halts_it_with_the_numbers(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 15.0})
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0, position=10.0), LiveState())
    assert result.halt is not None and "holds 15 SPY" in result.halt and "explain 10" in result.halt  # type: ignore[attr-defined]


async def test_adopting_takes_the_venues_position_and_pays_for_it(tmp_path: Path) -> None:
    venue = FakeVenue(held={"SPY": 15.0})
    book = PaperBroker(cash=1_000.0, position=10.0)
    result = await _reconciled(tmp_path, venue, book, LiveState(), adopt=True)
    assert result.halt is None and (book.position, book.cash) == (15.0, 500.0)  # type: ignore[attr-defined]


async def test_fills_that_happened_while_down_are_explained_not_halted(tmp_path: Path) -> None:
    venue = FakeVenue()
    await venue.submit(OrderRequest("c1", "SPY", "buy", 10.0))
    venue.fill("c1", 10.0, 100.0)
    live = LiveState(outstanding={"c1": Outstanding(BUY)})
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0), live)
    assert result.halt is None  # type: ignore[attr-defined]


async def test_an_order_sent_by_a_run_that_crashed_before_its_checkpoint_is_ours(tmp_path: Path) -> None:
    venue = FakeVenue()
    OrderJournal(tmp_path / "orders.jsonl").record(BUY)
    await venue.submit(OrderRequest("c1", "SPY", "buy", 10.0))
    venue.fill("c1", 4.0, 100.0)
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0), LiveState(journaled=0))
    assert result.halt is None  # type: ignore[attr-defined]
    # ...but once the checkpoint accounts for that journal line, the same fill is unexplained
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0), LiveState(journaled=1))
    assert result.halt is not None  # type: ignore[attr-defined]


async def test_an_open_order_the_bot_did_not_place_halts_it(tmp_path: Path) -> None:
    venue = FakeVenue()
    await venue.submit(OrderRequest("someone-else", "SPY", "sell", 3.0))
    result = await _reconciled(tmp_path, venue, PaperBroker(cash=0.0), LiveState())
    assert result.halt is not None and "did not place" in result.halt  # type: ignore[attr-defined]


def test_the_journal_ignores_a_line_torn_by_a_crash(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    journal.record(BUY)
    with journal.path.open("a") as handle:
        handle.write('{"client_order_id": "c2", "sym')
    assert journal.orders() == [BUY]


def test_live_state_round_trips_through_json() -> None:
    live = LiveState(outstanding={"c1": Outstanding(BUY, "v1", 4.0, 400.0)}, halted="why", journaled=3)
    assert LiveState.from_json(live.to_json()) == live


async def test_an_order_the_venue_never_heard_of_is_dropped(tmp_path: Path) -> None:
    execution = _execution(tmp_path, FakeVenue(), LiveState(outstanding={"c1": Outstanding(BUY)}))
    assert await execution.collect_fills("b") == [] and execution.live.outstanding == {}


async def test_an_outage_at_send_time_sends_nothing_and_says_why(tmp_path: Path) -> None:
    class NoClock(FakeVenue):
        async def clock(self) -> VenueClock:
            raise VenueUnavailable("alpaca answered 503 to the clock request")

    venue = NoClock()
    executions = await _execution(tmp_path, venue).send([BUY], prices={"SPY": 100.0}, fresh=True)
    assert venue.submits == 0 and executions[0]["status"] == "not sent" and "503" in executions[0]["reason"]


async def test_a_lookup_outage_keeps_the_order_outstanding(tmp_path: Path) -> None:
    venue = FakeVenue(refuse_lookups=1)
    execution = _execution(tmp_path, venue, LiveState(outstanding={"c1": Outstanding(BUY)}))
    assert await execution.collect_fills("b") == [] and "c1" in execution.live.outstanding


async def test_a_duplicate_whose_lookup_fails_stays_unknown_and_outstanding(tmp_path: Path) -> None:
    venue = FakeVenue()
    await venue.submit(OrderRequest("c1", "SPY", "buy", 10.0))  # the venue has it (e.g. from a lost run)
    venue.refuse_lookups = 1
    execution = _execution(tmp_path, venue)
    executions = await execution.send([BUY], prices={"SPY": 100.0}, fresh=True)
    assert executions[0]["status"] == "unknown" and "c1" in execution.live.outstanding
    assert len(venue.orders) == 1


def test_fees_in_the_coin_bought_and_in_the_quote_are_booked_so_the_book_equals_the_balances() -> None:
    from dataclasses import replace

    from trader.venue import VenueOrder

    book = PaperBroker(cash=1_000.0)
    buy = Outstanding(Order("b1", "BTC/USDT", "buy", 2.0, "d"))
    bought = VenueOrder("b1", "1", "BTC/USDT", "buy", 2.0, 2.0, 100.0, "filled", fee_base=0.002)
    fill = buy.fill_from(bought, "d")
    assert fill is not None
    book.apply(fill)
    assert book.position == pytest.approx(1.998) and book.cash == pytest.approx(800.0)  # 2 x 100, fee in BTC
    sell = Outstanding(Order("s1", "BTC/USDT", "sell", 1.0, "d"))
    sold = VenueOrder("s1", "2", "BTC/USDT", "sell", 1.0, 1.0, 110.0, "filled", fee_quote=0.11)
    fill = sell.fill_from(sold, "d")
    assert fill is not None
    book.apply(fill)
    assert book.position == pytest.approx(0.998) and book.cash == pytest.approx(800.0 + 110.0 - 0.11)
    assert replace(bought, fee_base=0.0).base_change() == 2.0 and bought.base_change() == pytest.approx(1.998)
