"""Start-up reconciliation (``trader/reconcile.py``) where a mutation run found tests missing.

What a trader would notice: a bot halted by its own still-open order, or by an order the venue
never heard of; fills while down counted instead of added to the book (or counted twice, or the
part already booked counted again); a crashed run's later orders forgotten after a checkpointed
one; dust halting a large position; an adopted position paid at a made-up price; halt and adopt
messages that do not say what to do.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.fakes.venue import FakeVenue
from trader.broker import Order, PaperBroker
from trader.execution import OrderJournal
from trader.live_state import LiveState, Outstanding
from trader.reconcile import Reconciliation, reconcile
from trader.venue import OrderRequest, VenueOrder

SYMBOLS = ("BTC/USDT", "ETH/USDT")


class SymbolScopedVenue(FakeVenue):
    """Finds an order only under its own symbol, as ccxt's ``fetch_order(id, symbol)`` does on Binance."""

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        found = await super().order_by_client_id(client_order_id, symbol)
        return found if found is not None and found.symbol == symbol else None


async def _reconcile(
    tmp_path: Path,
    venue: FakeVenue,
    book: PaperBroker,
    live: LiveState,
    *,
    adopt: bool = False,
    prices: dict[str, float] | None = None,
) -> Reconciliation:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    prices = {"BTC/USDT": 50_000.0, "ETH/USDT": 2_000.0} if prices is None else prices
    return await reconcile(venue, book, live, journal, symbols=SYMBOLS, prices=prices, adopt=adopt)


def _book(btc: float = 0.0, eth: float = 0.0) -> PaperBroker:
    return PaperBroker(cash=100_000.0, positions={"BTC/USDT": btc, "ETH/USDT": eth})


async def _sent(venue: FakeVenue, client_order_id: str, symbol: str, side: str, quantity: float) -> None:
    await venue.submit(OrderRequest(client_order_id, symbol, side, quantity))  # type: ignore[arg-type]


async def test_the_bots_own_open_order_is_not_a_stranger(tmp_path: Path) -> None:
    venue = SymbolScopedVenue(held={"BTC/USDT": 1.0})
    await _sent(venue, "b1", "BTC/USDT", "buy", 0.5)  # still open at the venue, nothing filled
    live = LiveState(outstanding={"b1": Outstanding(Order("b1", "BTC/USDT", "buy", 0.5, "d"))})
    result = await _reconcile(tmp_path, venue, _book(btc=1.0), live)
    assert result.halt is None
    assert result.expected_quantities == {"BTC/USDT": 1.0, "ETH/USDT": 0.0}


async def test_fills_while_down_are_added_to_the_book_found_under_the_orders_symbol(tmp_path: Path) -> None:
    venue = SymbolScopedVenue(held={"BTC/USDT": 1.0, "ETH/USDT": 3.0})
    await _sent(venue, "b1", "BTC/USDT", "buy", 0.5)
    venue.fill("b1", 0.5, 50_000.0)  # the venue now holds 1.5
    await _sent(venue, "s1", "ETH/USDT", "sell", 1.0)
    venue.fill("s1", 1.0, 2_000.0)  # the venue now holds 2
    live = LiveState(
        outstanding={
            "b1": Outstanding(Order("b1", "BTC/USDT", "buy", 0.5, "d")),
            "s1": Outstanding(Order("s1", "ETH/USDT", "sell", 1.0, "d")),
        }
    )
    result = await _reconcile(tmp_path, venue, _book(btc=1.0, eth=3.0), live)
    assert result.halt is None
    assert result.expected_quantities == {"BTC/USDT": 1.5, "ETH/USDT": 2.0}


async def test_only_the_unbooked_part_of_a_fill_and_of_its_coin_fee_is_expected(tmp_path: Path) -> None:
    venue = SymbolScopedVenue()
    await _sent(venue, "b1", "BTC/USDT", "buy", 1.0)
    venue.fill("b1", 1.0, 50_000.0)
    # Binance takes a buy's fee in the coin bought: 0.001 in all, 0.0004 of it already booked
    venue.orders["b1"] = replace(venue.orders["b1"], fee_base=0.001)
    venue.held["BTC/USDT"] = 0.999
    entry = Outstanding(
        Order("b1", "BTC/USDT", "buy", 1.0, "d"), booked_quantity=0.4, booked_notional=20_000.0, booked_fee_base=0.0004
    )
    book = _book(btc=0.4 - 0.0004)
    result = await _reconcile(tmp_path, venue, book, LiveState(outstanding={"b1": entry}))
    assert result.halt is None
    assert abs(result.expected_quantities["BTC/USDT"] - 0.999) < 1e-12


async def test_an_outstanding_order_the_venue_never_heard_of_changes_nothing(tmp_path: Path) -> None:
    live = LiveState(outstanding={"b1": Outstanding(Order("b1", "BTC/USDT", "buy", 0.5, "d"))})
    result = await _reconcile(tmp_path, SymbolScopedVenue(held={"BTC/USDT": 1.0}), _book(btc=1.0), live)
    assert result.halt is None and result.expected_quantities["BTC/USDT"] == 1.0


async def test_a_crashed_runs_orders_are_added_once_each_even_after_a_checkpointed_one(tmp_path: Path) -> None:
    venue = SymbolScopedVenue()
    journal = OrderJournal(tmp_path / "orders.jsonl")
    checkpointed = Order("b1", "BTC/USDT", "buy", 0.5, "d")
    crashed = Order("b2", "BTC/USDT", "buy", 0.25, "d")
    for order in (checkpointed, crashed):
        journal.record(order)
        await _sent(venue, order.client_order_id, order.symbol, order.side, order.quantity)
        venue.fill(order.client_order_id, order.quantity, 50_000.0)
    venue.held["BTC/USDT"] += 2.0  # the book's own 2.0
    # the checkpoint knows b1 (outstanding) but was written before the journal line of b2 counted
    live = LiveState(outstanding={"b1": Outstanding(checkpointed)}, journaled=0)
    result = await _reconcile(tmp_path, venue, _book(btc=2.0), live)
    assert result.halt is None
    assert result.expected_quantities["BTC/USDT"] == 2.75  # 2 + 0.5 (b1) + 0.25 (b2), b1 not twice


async def test_a_journaled_order_in_a_symbol_the_bot_no_longer_trades_is_skipped(tmp_path: Path) -> None:
    venue = SymbolScopedVenue()  # its fills below make it hold 0.25 BTC (and 3 SOL, not this bot's)
    journal = OrderJournal(tmp_path / "orders.jsonl")
    for order in (Order("x1", "SOL/USDT", "buy", 3.0, "d"), Order("b2", "BTC/USDT", "buy", 0.25, "d")):
        journal.record(order)
        await _sent(venue, order.client_order_id, order.symbol, order.side, order.quantity)
        venue.fill(order.client_order_id, order.quantity, 100.0)
    result = await _reconcile(tmp_path, venue, _book(), LiveState(journaled=0))
    assert result.halt is None and result.expected_quantities == {"BTC/USDT": 0.25, "ETH/USDT": 0.0}


async def test_a_stranger_open_order_halts_with_what_to_do(tmp_path: Path) -> None:
    venue = SymbolScopedVenue()
    await _sent(venue, "manual-7", "ETH/USDT", "sell", 1.0)
    result = await _reconcile(tmp_path, venue, _book(), LiveState())
    assert result.halt == (
        "fake has an open sell order for ETH/USDT (client id manual-7) that this bot did not place: "
        "cancel it at the venue, then start the bot again"
    )


async def test_differences_in_two_symbols_halt_naming_both_and_the_way_out(tmp_path: Path) -> None:
    venue = SymbolScopedVenue(held={"BTC/USDT": 1.5, "ETH/USDT": 1.0})
    result = await _reconcile(tmp_path, venue, _book(btc=1.0, eth=3.0), LiveState())
    assert result.halt == (
        "fake holds 1.5 BTC/USDT but this bot's book and its orders explain 1 (a difference of +0.5); "
        "fake holds 1 ETH/USDT but this bot's book and its orders explain 3 (a difference of -2): "
        "the bot is halted and sends nothing until the difference is resolved "
        "(or it is set to adopt the venue's position)"
    )


async def test_dust_up_to_the_tolerance_is_no_difference_and_above_it_is(tmp_path: Path) -> None:
    at_tolerance = await _reconcile(tmp_path, SymbolScopedVenue(held={"BTC/USDT": 1e-6}), _book(), LiveState())
    assert at_tolerance.halt is None
    above = await _reconcile(tmp_path, SymbolScopedVenue(held={"BTC/USDT": 1.5e-6}), _book(), LiveState())
    assert above.halt is not None and "BTC/USDT" in above.halt


async def test_the_tolerance_grows_with_the_position(tmp_path: Path) -> None:
    # a million tokens off by half a token (float drift over many fills) is not a stranger's trade
    venue = SymbolScopedVenue(held={"BTC/USDT": 1_000_000.5})
    result = await _reconcile(tmp_path, venue, _book(btc=1_000_000.0), LiveState())
    assert result.halt is None


async def test_adopting_says_what_was_adopted_and_at_what_price(tmp_path: Path) -> None:
    venue = SymbolScopedVenue(held={"BTC/USDT": 1.5})
    book = _book(btc=1.0)
    result = await _reconcile(tmp_path, venue, book, LiveState(), adopt=True)
    assert result.halt is None
    assert result.notes == [
        "fake holds 1.5 BTC/USDT but this bot's book and its orders explain 1 (a difference of +0.5): "
        "adopted the venue's position at 50000, as the bot's settings allow"
    ]
    assert book.positions["BTC/USDT"] == 1.5 and book.cash == 100_000.0 - 0.5 * 50_000.0


async def test_adopting_without_a_known_price_books_the_position_at_zero(tmp_path: Path) -> None:
    venue = SymbolScopedVenue(held={"ETH/USDT": 2.0})
    book = _book()
    result = await _reconcile(tmp_path, venue, book, LiveState(), adopt=True, prices={"BTC/USDT": 50_000.0})
    assert result.halt is None and result.notes[0].endswith(
        "adopted the venue's position at 0, as the bot's settings allow"
    )
    assert book.positions["ETH/USDT"] == 2.0 and book.cash == 100_000.0
