"""The bot's book and simulated execution. ``PaperBroker`` fills at the next open; live venues fill for real.

Orders are placed at a bar's close and filled at the next bar's open, with slippage and
commission in basis points. A live bot keeps the same book, but takes the pending orders
out (``take_pending``) for ``trader.execution`` to send, and books the venue's fills with
``apply``: the engine cannot tell the difference. Client order ids are derived from (bot, bar, leg), and a
broker refuses an id it has seen, so a restarted bot can never send the same order twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
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

    def fill_pending(self, open_prices: Prices, bar_time: str) -> list[Fill]: ...

    def equity(self, prices: Prices) -> float: ...


class PortfolioBook(ValueError):
    """A one-symbol question (``position``, a single price) asked of a book that holds several symbols."""


UNNAMED = ""  # the key of a one-symbol book's position before it knows its symbol (see PaperBroker)
Prices = float | Mapping[str, float]  # one price for a one-symbol book, else one per symbol


class PaperBroker:
    """Cash and a position per symbol; orders fill at the next open, each at its own symbol's price.

    A one-symbol book keeps today's interface: ``position``, ``fill_pending(open_price, ...)``
    and ``equity(price)`` take and give plain numbers. It may not know its symbol (built with
    ``position=``, or restored from a checkpoint, which writes a one-symbol book as it always
    did): that position is held under ``UNNAMED`` until the first fill or ``claim`` names it.
    """

    def __init__(
        self,
        cash: float,
        slippage_bps: float = 2.0,
        commission_bps: float = 1.0,
        position: float = 0.0,
        known_ids: set[str] | None = None,
        pending: list[Order] | None = None,
        *,
        positions: Mapping[str, float] | None = None,
    ) -> None:
        if positions is not None and position:
            raise ValueError("give a book either one position or positions by symbol, not both")
        self.cash = cash
        self.slippage_bps = slippage_bps
        self.commission_bps = commission_bps
        self.positions: dict[str, float] = dict(positions) if positions is not None else {}
        if position:
            self.positions[UNNAMED] = position
        self.known_ids: set[str] = set() if known_ids is None else known_ids
        self.pending: list[Order] = [] if pending is None else pending

    def __repr__(self) -> str:
        return f"PaperBroker(cash={self.cash!r}, positions={self.positions!r}, pending={len(self.pending)})"

    @property
    def position(self) -> float:
        """A one-symbol book's position (0.0 when it holds nothing)."""
        if len(self.positions) > 1:
            raise PortfolioBook(f"this book holds {len(self.positions)} symbols: ask position_of(symbol)")
        return next(iter(self.positions.values()), 0.0)

    @position.setter
    def position(self, quantity: float) -> None:
        if len(self.positions) > 1:
            raise PortfolioBook(f"this book holds {len(self.positions)} symbols: set positions[symbol]")
        self.positions[next(iter(self.positions), UNNAMED)] = quantity

    def claim(self, symbol: str) -> None:
        """Name a one-symbol book's unnamed position: it is ``symbol``'s (a restored one-symbol bot's book)."""
        if len(self.positions) == 1 and UNNAMED in self.positions:
            self.positions = {symbol: self.positions[UNNAMED]}

    def position_of(self, symbol: str) -> float:
        self.claim(symbol)
        return self.positions.get(symbol, 0.0)

    def submit(self, order: Order) -> None:
        if order.client_order_id in self.known_ids:
            raise DuplicateOrder(order.client_order_id)
        if order.quantity <= 0:
            raise ValueError("order quantity must be positive")
        self.known_ids.add(order.client_order_id)
        self.pending.append(order)

    def fill_pending(self, open_prices: Prices, bar_time: str) -> list[Fill]:
        """Simulated execution: every pending order fills at its symbol's open this bar, with slippage.

        ``open_prices``: one number for a one-symbol book, else the open of every symbol with an order.
        """
        fills = []
        for order in self.pending:
            open_price = open_prices if isinstance(open_prices, float | int) else open_prices[order.symbol]
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
        self.claim(fill.symbol)
        self.positions[fill.symbol] = self.positions.get(fill.symbol, 0.0) + sign * fill.quantity

    def take_pending(self) -> list[Order]:
        """Venue execution: hand the orders to the runner, which sends them; fills come back from the venue."""
        orders, self.pending = self.pending, []
        return orders

    def equity(self, prices: Prices) -> float:
        """Cash plus every position at its price: one number for a one-symbol book, else a price per symbol."""
        if isinstance(prices, float | int):
            return self.cash + self.position * prices
        if len(prices) == 1:
            self.claim(next(iter(prices)))
        value = self.cash
        for symbol in sorted(self.positions):  # a fixed order: the same sum after a checkpoint round trip
            value += self.positions[symbol] * prices[symbol]
        return value
