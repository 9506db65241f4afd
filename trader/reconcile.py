"""At every start, the bot's book against its venue's: explained, adopted, or halted.

The bot expects the venue to hold its checkpointed position plus whatever its own
orders filled while it was down (orders in the checkpoint, and orders in the journal
that a crashed run sent after its last checkpoint). Those fills are booked at the next
bar, through the engine, so they reach the audit like any other fill. Anything else —
a position changed by hand, an open order the bot did not place — halts the bot with
the reason, unless the trader chose to adopt the venue's position.

One bot per (account, symbol): two bots trading one symbol in one account would see
each other's fills as unexplained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trader.broker import PaperBroker
from trader.execution import OrderJournal
from trader.live_state import LiveState
from trader.venue import Venue

TOLERANCE = 1e-6


@dataclass
class Reconciliation:
    venue_quantity: float
    expected_quantity: float
    notes: list[str] = field(default_factory=list)
    halt: str | None = None


async def reconcile(
    venue: Venue,
    book: PaperBroker,
    live: LiveState,
    journal: OrderJournal,
    *,
    symbol: str,
    price: float,
    adopt: bool,
) -> Reconciliation:
    expected = book.position
    ours: set[str] = set()
    for client_order_id, entry in live.outstanding.items():
        ours.add(client_order_id)
        found = await venue.order_by_client_id(client_order_id, entry.order.symbol)
        if found is not None:
            expected += found.base_change(entry.booked_quantity, entry.booked_fee_base)
    checkpointed = {entry.order.client_order_id for entry in live.outstanding.values()}
    for order in journal.orders()[live.journaled :]:
        if order.client_order_id in checkpointed or order.symbol != symbol:
            continue
        ours.add(order.client_order_id)
        found = await venue.order_by_client_id(order.client_order_id, order.symbol)
        if found is not None:  # sent by a run that crashed before its checkpoint; that bar runs again
            expected += found.base_change()
    held = (await venue.positions()).get(symbol)
    quantity = held.quantity if held is not None else 0.0
    result = Reconciliation(venue_quantity=quantity, expected_quantity=expected)
    strangers = [o for o in await venue.open_orders([symbol]) if o.client_order_id not in ours]
    if strangers:
        result.halt = (
            f"{venue.name} has an open {strangers[0].side} order for {symbol} (client id "
            f"{strangers[0].client_order_id}) that this bot did not place: cancel it at the venue, "
            "then start the bot again"
        )
        return result
    difference = quantity - expected
    if abs(difference) <= TOLERANCE * max(1.0, abs(expected)):
        return result
    explain = (
        f"{venue.name} holds {quantity:g} {symbol} but this bot's book and its orders explain {expected:g} "
        f"(a difference of {difference:+g})"
    )
    if adopt:
        book.position += difference
        book.cash -= difference * price
        result.notes.append(f"{explain}: adopted the venue's position at {price:g}, as the bot's settings allow")
        return result
    result.halt = (
        f"{explain}: the bot is halted and sends nothing until the difference is resolved (or it is set to adopt "
        "the venue's position)"
    )
    return result
