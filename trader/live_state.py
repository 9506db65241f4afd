"""What a live bot remembers about its orders at a venue, checkpointed with the engine.

The venue is the truth for what filled; the bot keeps, per order it has sent and not yet
seen finish, how much of it is already booked. A fill is the difference between the
venue's cumulative filled quantity and notional and what is booked, so polling the same
order twice, a duplicated stream message or a restart can never book a fill twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from trader.broker import Fill, Order
from trader.venue import VenueOrder

QUANTITY_EPSILON = 1e-9


@dataclass
class Outstanding:
    order: Order
    venue_order_id: str | None = None
    booked_quantity: float = 0.0
    booked_notional: float = 0.0
    booked_fee_base: float = 0.0
    booked_fee_quote: float = 0.0

    def fill_from(self, venue: VenueOrder, at: str) -> Fill | None:
        """The part of ``venue``'s cumulative fill not yet booked (and book it), or None.

        A fee taken in the traded asset changes the quantity booked (the account holds
        that much less); its value and any fee in the quote currency are the commission,
        so the cash moves by exactly the traded notional plus the quote fee.
        """
        delta = venue.filled_quantity - self.booked_quantity
        if delta <= QUANTITY_EPSILON or venue.average_price is None:
            return None
        notional = venue.filled_quantity * venue.average_price
        price = (notional - self.booked_notional) / delta
        fee_base = venue.fee_base - self.booked_fee_base
        fee_quote = venue.fee_quote - self.booked_fee_quote
        sign = 1.0 if venue.side == "buy" else -1.0
        self.booked_quantity, self.booked_notional = venue.filled_quantity, notional
        self.booked_fee_base, self.booked_fee_quote = venue.fee_base, venue.fee_quote
        self.venue_order_id = venue.venue_order_id
        order = self.order
        quantity = delta - sign * fee_base
        return Fill(order.client_order_id, order.symbol, order.side, quantity, price, fee_base * price + fee_quote, at)


@dataclass
class LiveState:
    outstanding: dict[str, Outstanding] = field(default_factory=dict)
    halted: str | None = None  # why the bot stopped trading; it stays halted until re-armed
    halt_recorded: bool = False  # the halt's audit record is written once, not at every start
    journaled: int = 0  # journal entries this checkpoint accounts for; later ones come from a crashed run

    def to_json(self) -> dict[str, Any]:
        return {
            "outstanding": [{**asdict(entry), "order": asdict(entry.order)} for entry in self.outstanding.values()],
            "halted": self.halted,
            "halt_recorded": self.halt_recorded,
            "journaled": self.journaled,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LiveState:
        if not data:
            return cls()
        outstanding = {}
        for item in data.get("outstanding", []):
            entry = Outstanding(
                order=Order(**item["order"]),
                venue_order_id=item.get("venue_order_id"),
                booked_quantity=float(item["booked_quantity"]),
                booked_notional=float(item["booked_notional"]),
                booked_fee_base=float(item.get("booked_fee_base", 0.0)),
                booked_fee_quote=float(item.get("booked_fee_quote", 0.0)),
            )
            outstanding[entry.order.client_order_id] = entry
        return cls(
            outstanding=outstanding,
            halted=data.get("halted"),
            halt_recorded=bool(data.get("halt_recorded", False)),
            journaled=int(data.get("journaled", 0)),
        )
