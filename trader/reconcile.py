"""At every start, the bot's book against its venue's: explained, adopted, or halted.

The bot expects the venue to hold its checkpointed position plus whatever its own
orders filled while it was down (orders in the checkpoint, and orders in the journal
that a crashed run sent after its last checkpoint). Those fills are booked at the next
bar, through the engine, so they reach the audit like any other fill. Anything else —
a position changed by hand, an open order the bot did not place — halts the bot with
the reason, unless the trader chose to adopt the venue's position.

A portfolio bot checks each of its symbols: the first open order it did not place, in
any of them, halts it, and so does a position no symbol's book and orders explain (the
halt names every such symbol). Positions in symbols the bot does not trade are not its
business. One bot per (account, symbol): two bots trading one symbol in one account would
see each other's fills as unexplained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trader.broker import PaperBroker
from trader.execution import OrderJournal
from trader.live_state import LiveState
from trader.venue import Venue

TOLERANCE = 1e-6


@dataclass
class Reconciliation:
    venue_quantities: dict[str, float] = field(default_factory=dict)  # by symbol
    expected_quantities: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    halt: str | None = None


async def reconcile(
    venue: Venue,
    book: PaperBroker,
    live: LiveState,
    journal: OrderJournal,
    *,
    symbols: Sequence[str],
    prices: Mapping[str, float],
    adopt: bool,
) -> Reconciliation:
    """Each of the bot's symbols checked against the venue (``positions``/``open_orders`` asked once for all).

    ``prices``: each symbol's last close, what an adopted position is paid at.
    """
    expected = {symbol: book.position_of(symbol) for symbol in symbols}
    ours: set[str] = set()
    for client_order_id, entry in live.outstanding.items():
        ours.add(client_order_id)
        found = await venue.order_by_client_id(client_order_id, entry.order.symbol)
        if found is not None and entry.order.symbol in expected:
            expected[entry.order.symbol] += found.base_change(entry.booked_quantity, entry.booked_fee_base)
    checkpointed = {entry.order.client_order_id for entry in live.outstanding.values()}
    for order in journal.orders()[live.journaled :]:  # every symbol's orders, in the order they were sent
        if order.client_order_id in checkpointed or order.symbol not in expected:
            continue
        ours.add(order.client_order_id)
        found = await venue.order_by_client_id(order.client_order_id, order.symbol)
        if found is not None:  # sent by a run that crashed before its checkpoint; that bar runs again
            expected[order.symbol] += found.base_change()
    held = await venue.positions()
    result = Reconciliation(
        venue_quantities={symbol: held[symbol].quantity if symbol in held else 0.0 for symbol in symbols},
        expected_quantities=expected,
    )
    strangers = [o for o in await venue.open_orders(list(symbols)) if o.client_order_id not in ours]
    if strangers:
        stranger = strangers[0]
        result.halt = (
            f"{venue.name} has an open {stranger.side} order for {stranger.symbol} (client id "
            f"{stranger.client_order_id}) that this bot did not place: cancel it at the venue, "
            "then start the bot again"
        )
        return result
    differences = {
        symbol: result.venue_quantities[symbol] - expected[symbol]
        for symbol in symbols
        if abs(result.venue_quantities[symbol] - expected[symbol]) > TOLERANCE * max(1.0, abs(expected[symbol]))
    }
    if not differences:
        return result
    explained = {
        symbol: (
            f"{venue.name} holds {result.venue_quantities[symbol]:g} {symbol} but this bot's book and its orders "
            f"explain {expected[symbol]:g} (a difference of {difference:+g})"
        )
        for symbol, difference in differences.items()
    }
    if adopt:
        for symbol, difference in differences.items():
            price = prices.get(symbol, 0.0)
            book.positions[symbol] = book.position_of(symbol) + difference
            book.cash -= difference * price
            result.notes.append(
                f"{explained[symbol]}: adopted the venue's position at {price:g}, as the bot's settings allow"
            )
        return result
    result.halt = (
        f"{'; '.join(explained.values())}: the bot is halted and sends nothing until the difference is resolved "
        "(or it is set to adopt the venue's position)"
    )
    return result
