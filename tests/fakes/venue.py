"""An in-memory venue for unit tests of the bot's own order logic (the emulators test the wire)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from trader.venue import (
    Account,
    DuplicateClientOrderId,
    OrderRequest,
    Position,
    SymbolRules,
    VenueBar,
    VenueClock,
    VenueOrder,
    VenueUnavailable,
)


@dataclass
class FakeVenue:
    name: str = "fake"
    rules_: SymbolRules = field(default_factory=lambda: SymbolRules("SPY"))
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)
    submits: int = 0
    accept_then_fail: int = 0  # the next N submits are stored, then reported as an outage
    refuse_lookups: int = 0
    is_open: bool = True

    async def account(self) -> Account:
        return Account(cash=1e6, equity=1e6)

    async def positions(self) -> dict[str, Position]:
        return {s: Position(s, q, 100.0) for s, q in self.held.items() if q}

    async def rules(self, symbol: str) -> SymbolRules:
        return replace(self.rules_, symbol=symbol)

    async def clock(self) -> VenueClock:
        return VenueClock(datetime(2026, 12, 3, 21, tzinfo=UTC), self.is_open)

    async def submit(self, order: OrderRequest) -> VenueOrder:
        self.submits += 1
        if order.client_order_id in self.orders:
            raise DuplicateClientOrderId(order.client_order_id)
        placed = VenueOrder(
            order.client_order_id, str(uuid.uuid4()), order.symbol, order.side, order.quantity, 0.0, None, "new"
        )
        self.orders[order.client_order_id] = placed
        if self.accept_then_fail:
            self.accept_then_fail -= 1
            raise VenueUnavailable("504 after accepting")
        return placed

    def fill(self, client_order_id: str, quantity: float, price: float) -> None:
        """Fill ``quantity`` more at ``price`` (cumulative average kept like a venue does)."""
        order = self.orders[client_order_id]
        total = order.filled_quantity + quantity
        average = ((order.average_price or 0.0) * order.filled_quantity + price * quantity) / total
        status = "filled" if total >= order.quantity - 1e-12 else "partially_filled"
        self.orders[client_order_id] = replace(order, filled_quantity=total, average_price=average, status=status)
        sign = 1.0 if order.side == "buy" else -1.0
        self.held[order.symbol] = self.held.get(order.symbol, 0.0) + sign * quantity

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        if self.refuse_lookups:
            self.refuse_lookups -= 1
            raise VenueUnavailable("lookup timed out")
        return self.orders.get(client_order_id)

    async def open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.symbol in symbols and not o.done]

    async def cancel(self, order: VenueOrder) -> None:
        self.orders[order.client_order_id] = replace(order, status="canceled")

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        return []

    async def close(self) -> None:
        return None
