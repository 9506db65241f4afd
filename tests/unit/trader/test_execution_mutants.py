"""Live order submission (``trader/execution.py``) where a mutation run found tests missing.

Against the in-memory FakeVenue, with order lookups scoped by symbol (as on Binance) and a fake
clock for the waits (no real sleeping). What a trader would notice: an order journaled twice or
sent without looking first after a crash, a rejected order retried as new, the wrong time in
force, buys that stop waiting for the sells (or wait forever), fills of one order lost because
another's lookup failed, the audit entry of an order missing its side, quantity or reason, the
crash test points not where the chaos tests expect them, the operator's log not saying which
order is in doubt.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from events.failpoints import Failpoints
from tests.fakes.venue import FakeVenue
from trader import execution
from trader.broker import Order
from trader.execution import OrderJournal, VenueExecution, place_once
from trader.live_state import LiveState, Outstanding
from trader.venue import (
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    SymbolRules,
    VenueError,
    VenueOrder,
    VenueUnavailable,
)

BTC, ETH = "BTC/USDT", "ETH/USDT"
PRICES = {BTC: 50_000.0, ETH: 2_000.0}


class RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


@dataclass
class FakeClock:
    """Stands in for ``asyncio`` inside trader.execution: sleeping advances time, instantly."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def get_running_loop(self) -> SimpleNamespace:
        return SimpleNamespace(time=lambda: self.now)


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recording = RecordingLog()
    monkeypatch.setattr(execution, "log", recording)
    return recording


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(execution, "asyncio", fake)
    return fake


class Venue(FakeVenue):
    """FakeVenue that finds orders under their own symbol only and keeps every request it was sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[OrderRequest] = []
        self.lookups: list[tuple[str, str]] = []
        self.fill_on_lookup: dict[str, int] = {}  # client id -> fill completely at this many lookups

    async def submit(self, order: OrderRequest) -> VenueOrder:
        self.requests.append(order)
        return await super().submit(order)

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        self.lookups.append((client_order_id, symbol))
        found = await super().order_by_client_id(client_order_id, symbol)
        if found is None or found.symbol != symbol:
            return None
        if self.fill_on_lookup.get(client_order_id) == sum(1 for c, _ in self.lookups if c == client_order_id):
            self.fill(client_order_id, found.quantity - found.filled_quantity, 100.0)
            return self.orders[client_order_id]
        return found


def _execution(
    tmp_path: Path, venue: FakeVenue, *, crypto: bool = True, live: LiveState | None = None, **kwargs: Any
) -> VenueExecution:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    return VenueExecution(venue, journal, live or LiveState(), crypto=crypto, **kwargs)


# ---- the journal ----------------------------------------------------------------------


def test_the_journal_creates_its_folder_and_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "bots" / "b1" / "orders.jsonl")
    order = Order("c1", BTC, "buy", 0.5, "2026-12-03")
    journal.record(order)
    assert journal.orders() == [order]
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_the_journal_is_one_line_per_order_with_no_blank_lines(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    journal.record(Order("c1", BTC, "buy", 0.5, "d"))
    journal.record(Order("c2", BTC, "sell", 0.5, "d"))
    lines = journal.path.read_text().split("\n")
    assert len(lines) == 3 and lines[2] == "" and all(line.startswith('{"client_order_id":') for line in lines[:2])


def test_orders_after_a_torn_line_are_still_read(tmp_path: Path) -> None:
    """A crash mid-write leaves a torn line; the restarted run's orders come after it and are its own."""
    journal = OrderJournal(tmp_path / "orders.jsonl")
    first, later = Order("c1", BTC, "buy", 0.5, "d1"), Order("c3", BTC, "sell", 0.5, "d2")
    journal.record(first)
    with journal.path.open("a") as handle:
        handle.write('{"client_order_id": "c2", "sym')
    journal.record(later)
    assert journal.orders() == [first, later]


# ---- place_once ----------------------------------------------------------------------


class Down(Venue):
    async def submit(self, order: OrderRequest) -> VenueOrder:
        self.requests.append(order)
        raise VenueUnavailable("503 from the venue")


async def test_an_outage_is_retried_five_times_backing_off_from_a_quarter_second(
    clock: FakeClock, log: RecordingLog
) -> None:
    venue = Down()
    with pytest.raises(VenueUnavailable) as raised:
        await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=False)
    assert str(raised.value) == "fake did not take order c1 in 5 attempts: 503 from the venue"
    assert len(venue.requests) == 5
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert log.warnings == [("order.outcome_unknown", {"client_order_id": "c1", "error": "503 from the venue"})] * 5


async def test_nothing_is_resent_while_no_lookup_answers(clock: FakeClock) -> None:
    venue = Down(refuse_lookups=100)
    with pytest.raises(VenueUnavailable, match="in 5 attempts"):
        await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=False)
    assert len(venue.requests) == 1  # the order may be in: one submit, then only lookups
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]


async def test_a_maybe_sent_order_the_venue_lacks_is_sent_after_the_lookup(clock: FakeClock) -> None:
    venue = Venue()
    placed = await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=True)
    assert placed.client_order_id == "c1" and venue.lookups == [("c1", BTC)] and len(venue.requests) == 1


async def test_a_maybe_sent_order_is_not_sent_while_the_lookup_fails(clock: FakeClock) -> None:
    venue = Venue(refuse_lookups=1)
    with pytest.raises(VenueUnavailable) as raised:
        await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=True)
    assert str(raised.value) == "fake could not say whether order c1 exists"
    assert venue.requests == []


class Duplicate(Venue):
    async def submit(self, order: OrderRequest) -> VenueOrder:
        self.requests.append(order)
        raise DuplicateClientOrderId(order.client_order_id)


async def test_a_duplicate_whose_lookup_fails_waits_for_the_next_bar(clock: FakeClock) -> None:
    venue = Duplicate(refuse_lookups=1)
    with pytest.raises(VenueUnavailable) as raised:
        await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=False)
    assert str(raised.value) == "fake has order c1 but did not show it"
    assert len(venue.requests) == 1


async def test_a_duplicate_the_venue_cannot_find_is_an_error_not_a_resend(clock: FakeClock) -> None:
    venue = Duplicate()
    with pytest.raises(VenueError) as raised:
        await place_once(venue, OrderRequest("c1", BTC, "buy", 0.5), maybe_sent=False)
    assert type(raised.value) is VenueError
    assert str(raised.value) == "fake says order c1 already exists but cannot find it"
    assert len(venue.requests) == 1


# ---- collect_fills ---------------------------------------------------------------------


async def _placed(venue: Venue, client_order_id: str, symbol: str, side: str, quantity: float) -> Outstanding:
    await venue.submit(OrderRequest(client_order_id, symbol, side, quantity))  # type: ignore[arg-type]
    return Outstanding(Order(client_order_id, symbol, side, quantity, "d"))  # type: ignore[arg-type]


async def test_a_failed_lookup_leaves_the_order_outstanding_and_the_next_orders_fills_are_booked(
    tmp_path: Path, log: RecordingLog
) -> None:
    venue = Venue()
    first = await _placed(venue, "b1", BTC, "buy", 0.5)
    second = await _placed(venue, "e1", ETH, "buy", 2.0)
    venue.fill("e1", 2.0, 2_000.0)
    live = LiveState(outstanding={"b1": first, "e1": second})
    venue.refuse_lookups = 1  # b1's lookup times out
    fills = await _execution(tmp_path, venue, live=live).collect_fills("bar-7")
    assert [(f.client_order_id, f.symbol, f.quantity, f.filled_at) for f in fills] == [("e1", ETH, 2.0, "bar-7")]
    assert list(live.outstanding) == ["b1"]
    assert log.warnings == [("order.lookup_failed", {"client_order_id": "b1", "error": "lookup timed out"})]


async def test_an_order_the_venue_never_took_is_dropped_and_the_next_orders_fills_are_booked(
    tmp_path: Path, log: RecordingLog
) -> None:
    venue = Venue()
    never = Outstanding(Order("b0", BTC, "buy", 0.5, "d"))
    second = await _placed(venue, "e1", ETH, "sell", 2.0)
    venue.fill("e1", 2.0, 2_000.0)
    live = LiveState(outstanding={"b0": never, "e1": second})
    fills = await _execution(tmp_path, venue, live=live).collect_fills("bar-7")
    assert [(f.client_order_id, f.side, f.filled_at) for f in fills] == [("e1", "sell", "bar-7")]
    assert live.outstanding == {}
    assert log.warnings == [
        ("order.not_at_venue", {"client_order_id": "b0", "detail": "it was never accepted"}),
    ]


# ---- send ----------------------------------------------------------------------------


def _described(client_order_id: str, symbol: str, side: str, quantity: float, **more: Any) -> dict[str, Any]:
    return {"client_order_id": client_order_id, "symbol": symbol, "side": side, "quantity": quantity, **more}


async def test_an_order_on_an_old_bar_is_not_sent_and_says_why(tmp_path: Path) -> None:
    venue = Venue()
    executions = await _execution(tmp_path, venue).send([Order("b1", BTC, "buy", 0.5, "d")], prices=PRICES, fresh=False)
    assert executions == [
        _described(
            "b1",
            BTC,
            "buy",
            0.5,
            status="not sent",
            reason="the bar is no longer the latest: no trading on an old price",
        )
    ]


@pytest.mark.parametrize(
    ("crypto", "is_open", "tif"), [(True, False, "gtc"), (False, True, "day"), (False, False, "opg")]
)
async def test_the_order_sent_carries_the_markets_time_in_force(
    tmp_path: Path, crypto: bool, is_open: bool, tif: str
) -> None:
    venue = Venue(is_open=is_open, rules_=SymbolRules("SPY", quantity_step=0.0001))
    executions = await _execution(tmp_path, venue, crypto=crypto).send(
        [Order("b1", BTC, "buy", 0.123456, "d")], prices=PRICES, fresh=True
    )
    assert venue.requests == [OrderRequest("b1", BTC, "buy", 0.1234, tif)]  # type: ignore[arg-type]
    assert executions == [
        _described(
            "b1", BTC, "buy", 0.1234, venue_order_id=venue.orders["b1"].venue_order_id, status="new", time_in_force=tif
        )
    ]


async def test_the_journal_and_the_outstanding_order_hold_the_fitted_order(tmp_path: Path) -> None:
    venue = Venue(rules_=SymbolRules("X", quantity_step=0.01))
    run = _execution(tmp_path, venue)
    await run.send([Order("b1", BTC, "buy", 0.129, "2026-12-03T00:00")], prices=PRICES, fresh=True)
    fitted = Order("b1", BTC, "buy", 0.12, "2026-12-03T00:00")
    assert run.journal.orders() == [fitted]
    entry = run.live.outstanding["b1"]
    assert entry.order == fitted and entry.venue_order_id == venue.orders["b1"].venue_order_id


async def test_an_order_a_crashed_run_journaled_is_looked_up_not_sent_nor_journaled_again(tmp_path: Path) -> None:
    venue = Venue()
    order = Order("b1", BTC, "buy", 0.5, "d")
    OrderJournal(tmp_path / "orders.jsonl").record(order)
    await venue.submit(OrderRequest("b1", BTC, "buy", 0.5, "gtc"))  # the crashed run's submit got in
    venue.requests.clear()
    run = _execution(tmp_path, venue)
    assert run.journaled == 1
    executions = await run.send([order], prices=PRICES, fresh=True)
    assert venue.requests == [] and venue.lookups == [("b1", BTC)]
    assert run.journal.orders() == [order] and run.journaled == 1
    assert executions[0]["status"] == "new"


async def test_new_orders_are_journaled_once_and_counted(tmp_path: Path) -> None:
    venue = Venue()
    OrderJournal(tmp_path / "orders.jsonl").record(Order("old", BTC, "buy", 0.1, "d0"))
    run = _execution(tmp_path, venue)
    orders = [Order("b1", BTC, "buy", 0.5, "d"), Order("e1", ETH, "buy", 1.0, "d")]
    await run.send(orders, prices=PRICES, fresh=True)
    assert run.journaled == 3
    # the same bar again in the same run (a retry): looked up, not journaled or sent a second time
    await run.send(orders[:1], prices=PRICES, fresh=True)
    assert [o.client_order_id for o in run.journal.orders()] == ["old", "b1", "e1"]
    assert run.journaled == 3 and len(venue.requests) == 2


class Rejects(Venue):
    async def submit(self, order: OrderRequest) -> VenueOrder:
        self.requests.append(order)
        raise OrderRejected("insufficient balance")


async def test_a_rejected_order_is_recorded_with_the_reason_and_not_retried(tmp_path: Path) -> None:
    venue = Rejects()
    run = _execution(tmp_path, venue)
    executions = await run.send([Order("b1", BTC, "buy", 0.5, "d")], prices=PRICES, fresh=True)
    assert executions == [_described("b1", BTC, "buy", 0.5, status="rejected", reason="insufficient balance")]
    assert len(venue.requests) == 1 and run.live.outstanding == {}


async def test_an_order_with_an_unknown_outcome_stays_outstanding_and_its_fill_is_booked_later(
    tmp_path: Path, clock: FakeClock
) -> None:
    venue = Down()
    run = _execution(tmp_path, venue)
    executions = await run.send([Order("b1", BTC, "buy", 0.5, "d")], prices=PRICES, fresh=True)
    assert executions == [
        _described(
            "b1",
            BTC,
            "buy",
            0.5,
            status="unknown",
            reason="fake did not take order b1 in 5 attempts: 503 from the venue",
        )
    ]
    entry = run.live.outstanding["b1"]
    assert entry.order == Order("b1", BTC, "buy", 0.5, "d")
    # it had got in after all: the next bar finds it and books its fill
    await FakeVenue.submit(venue, OrderRequest("b1", BTC, "buy", 0.5))
    venue.fill("b1", 0.5, 50_000.0)
    fills = await run.collect_fills("bar-2")
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [("b1", 0.5, 50_000.0)]


class RecordingFailpoints(Failpoints):
    def __init__(self) -> None:
        super().__init__()
        self.hits: list[str] = []

    def hit_sync(self, name: str) -> None:
        self.hits.append(name)


async def test_the_crash_points_follow_each_acknowledged_order(tmp_path: Path, clock: FakeClock) -> None:
    failpoints = RecordingFailpoints()
    run = _execution(tmp_path, Venue(), failpoints=failpoints)
    await run.send([Order("b1", BTC, "buy", 0.5, "d"), Order("e1", ETH, "sell", 1.0, "d")], prices=PRICES, fresh=True)
    assert failpoints.hits == [
        "execution.after_ack",
        f"execution.after_ack.{ETH}",
        "execution.after_ack",
        f"execution.after_ack.{BTC}",
    ]


# ---- sells before buys on a spot exchange ---------------------------------------------


async def test_buys_wait_for_the_sells_to_fill_polling_from_fifty_milliseconds(
    tmp_path: Path, clock: FakeClock, log: RecordingLog
) -> None:
    venue = Venue()
    venue.fill_on_lookup["s1"] = 3  # the sell fills at its third lookup
    run = _execution(tmp_path, venue)
    orders = [Order("b1", BTC, "buy", 0.5, "d"), Order("s1", ETH, "sell", 1.0, "d")]
    await run.send(orders, prices=PRICES, fresh=True)
    assert [r.client_order_id for r in venue.requests] == ["s1", "b1"]
    assert venue.lookups == [("s1", ETH)] * 3
    assert clock.sleeps == [0.05, 0.1]
    assert log.warnings == []


async def test_buys_go_anyway_when_the_sells_have_not_filled_by_the_deadline(
    tmp_path: Path, clock: FakeClock, log: RecordingLog
) -> None:
    venue = Venue()
    run = _execution(tmp_path, venue, sell_fill_wait_s=3.0)
    orders = [Order("s1", ETH, "sell", 1.0, "d"), Order("s2", BTC, "sell", 0.1, "d"), Order("b1", BTC, "buy", 0.5, "d")]
    await run.send(orders, prices=PRICES, fresh=True)
    assert [r.client_order_id for r in venue.requests] == ["s1", "s2", "b1"]
    # doubling pauses capped at one second, the last one cut to the deadline
    assert clock.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 0.45])
    assert sum(clock.sleeps) == pytest.approx(3.0)
    assert log.warnings == [("order.sells_not_filled_before_buys", {"client_order_ids": ["s1", "s2"]})]


async def test_a_sell_lookup_that_fails_while_waiting_keeps_the_buys_waiting(tmp_path: Path, clock: FakeClock) -> None:
    venue = Venue()
    run = _execution(tmp_path, venue, sell_fill_wait_s=1.0)

    async def flaky_then_filled(client_order_id: str, symbol: str) -> VenueOrder | None:
        venue.lookups.append((client_order_id, symbol))
        if len(venue.lookups) == 1:
            raise VenueUnavailable("lookup timed out")
        venue.fill(client_order_id, 1.0, 2_000.0)
        return venue.orders[client_order_id] if venue.orders[client_order_id].symbol == symbol else None

    venue.order_by_client_id = flaky_then_filled  # type: ignore[method-assign]
    await run.send([Order("s1", ETH, "sell", 1.0, "d"), Order("b1", BTC, "buy", 0.5, "d")], prices=PRICES, fresh=True)
    assert venue.lookups == [("s1", ETH), ("s1", ETH)] and clock.sleeps == [0.05]


async def test_a_sell_skipped_under_the_minimum_is_not_waited_for(tmp_path: Path, clock: FakeClock) -> None:
    venue = Venue(rules_=SymbolRules("X", min_notional=10.0))
    run = _execution(tmp_path, venue)
    orders = [Order("s1", ETH, "sell", 0.001, "d"), Order("b1", BTC, "buy", 0.5, "d")]  # $2 of ETH: skipped
    executions = await run.send(orders, prices=PRICES, fresh=True)
    assert [e["status"] for e in executions] == ["skipped", "new"]
    assert clock.sleeps == [] and venue.lookups == []


async def test_stock_buys_do_not_wait_for_the_sells(tmp_path: Path, clock: FakeClock) -> None:
    venue = Venue(is_open=False)
    run = _execution(tmp_path, venue, crypto=False)
    await run.send(
        [Order("s1", "SPY", "sell", 1.0, "d"), Order("b1", "QQQ", "buy", 1.0, "d")],
        prices={"SPY": 1.0, "QQQ": 1.0},
        fresh=True,
    )
    assert clock.sleeps == [] and venue.lookups == []


def test_the_journal_line_is_the_order_as_json(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    journal.record(Order("c1", BTC, "buy", 0.5, "d"))
    assert json.loads(journal.path.read_text()) == {
        "client_order_id": "c1",
        "symbol": BTC,
        "side": "buy",
        "quantity": 0.5,
        "placed_at": "d",
    }
