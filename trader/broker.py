"""The bot's book and simulated execution. ``PaperBroker`` fills at the next open; live venues fill for real.

Orders are placed at a bar's close and filled at the next bar's open, with slippage and
commission in basis points. A live bot keeps the same book, but takes the pending orders
out (``take_pending``) for ``trader.execution`` to send, and books the venue's fills with
``apply``: the engine cannot tell the difference. Client order ids are derived from (bot, bar, leg), and a
broker refuses an id it has seen, so a restarted bot can never send the same order twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Protocol

Side = Literal["buy", "sell"]


class DuplicateOrder(Exception):
    """The broker already knows this client order id."""


def client_order_id(bot_id: str, bar_time: str, leg: str) -> str:
    return hashlib.sha256(f"{bot_id}|{bar_time}|{leg}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Order:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    placed_at: str


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    commission: float
    filled_at: str


class Broker(Protocol):
    def submit(self, order: Order) -> None: ...

    def fill_pending(self, open_price: float, bar_time: str) -> list[Fill]: ...

    def equity(self, price: float) -> float: ...


@dataclass
class PaperBroker:
    cash: float
    slippage_bps: float = 2.0
    commission_bps: float = 1.0
    position: float = 0.0
    known_ids: set[str] = field(default_factory=set)
    pending: list[Order] = field(default_factory=list)

    def submit(self, order: Order) -> None:
        if order.client_order_id in self.known_ids:
            raise DuplicateOrder(order.client_order_id)
        if order.quantity <= 0:
            raise ValueError("order quantity must be positive")
        self.known_ids.add(order.client_order_id)
        self.pending.append(order)

    def fill_pending(self, open_price: float, bar_time: str) -> list[Fill]:
        """Simulated execution: every pending order fills at this bar's open, with slippage."""
        fills = []
        for order in self.pending:
            sign = 1.0 if order.side == "buy" else -1.0
            price = open_price * (1 + sign * self.slippage_bps / 10_000)
            commission = abs(order.quantity * price) * self.commission_bps / 10_000
            fill = Fill(order.client_order_id, order.symbol, order.side, order.quantity, price, commission, bar_time)
            self.apply(fill)
            fills.append(fill)
        self.pending = []
        return fills

    def apply(self, fill: Fill) -> None:
        """Book one fill (simulated here, or reported by a venue): cash and position move together."""
        sign = 1.0 if fill.side == "buy" else -1.0
        self.cash -= sign * fill.quantity * fill.price + fill.commission
        self.position += sign * fill.quantity

    def take_pending(self) -> list[Order]:
        """Venue execution: hand the orders to the runner, which sends them; fills come back from the venue."""
        orders, self.pending = self.pending, []
        return orders

    def equity(self, price: float) -> float:
        return self.cash + self.position * price
