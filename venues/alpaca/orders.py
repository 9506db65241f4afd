"""One order's record and its JSON, as Alpaca's ``Order`` object carries it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from venues.alpaca.wire import Asset, Json, money, rfc3339

OPEN_STATUSES = frozenset({"new", "accepted", "partially_filled"})


@dataclass
class Order:
    id: str
    client_order_id: str
    symbol: str  # the asset's symbol (``BTC/USD``, ``SPY``)
    side: str
    type: str
    time_in_force: str
    qty: float | None
    notional: float | None
    limit_price: float | None
    created_at: float  # sim epoch seconds
    status: str = "accepted"
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    updated_at: float = 0.0
    filled_at: float | None = None
    canceled_at: float | None = None
    expired_at: float | None = None
    parts: int = 1  # a market order fills in this many parts (the partial_fills fault)
    parts_done: int = 0
    next_fill_at: float | None = None  # market: when the next part fills; None: never
    checked_until: float = 0.0  # limit: minute bars up to here were checked for a cross
    expires_at: float | None = None  # day/opg: the session close that ends it

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def remaining(self, price: float) -> float:
        """Quantity still to fill (a notional order's is priced at ``price``)."""
        if self.qty is not None:
            return max(self.qty - self.filled_qty, 0.0)
        spent = self.filled_qty * (self.filled_avg_price or 0.0)
        return max((self.notional or 0.0) - spent, 0.0) / price

    def to_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Order:
        return cls(**data)

    def to_json(self, asset: Asset) -> Json:
        def ts(value: float | None) -> str | None:
            return None if value is None else rfc3339(datetime.fromtimestamp(value, UTC))

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at or self.created_at),
            "submitted_at": ts(self.created_at),
            "filled_at": ts(self.filled_at),
            "expired_at": ts(self.expired_at),
            "canceled_at": ts(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": asset.id,
            "symbol": asset.symbol,
            "asset_class": "crypto" if asset.crypto else "us_equity",
            "notional": None if self.notional is None else money(self.notional),
            "qty": None if self.qty is None else money(self.qty),
            "filled_qty": money(self.filled_qty),
            "filled_avg_price": None if self.filled_avg_price is None else money(self.filled_avg_price),
            "order_class": "simple",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": None,
            "time_in_force": self.time_in_force,
            "limit_price": None if self.limit_price is None else money(self.limit_price),
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }
