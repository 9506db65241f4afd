"""The emulated account: balances, every order ever placed, and the fills that moved money.

One lock guards everything, because the HTTP handlers, the background matcher and a test
calling the Python API may touch it at once. Money is ``Decimal`` throughout (the wire
sends decimal strings; float sums would leave dust like 0.30000000000000004 BTC).

Exactly-once is the point of this emulator, so a client order id is unique **forever**
(also after the order is filled or canceled), like Alpaca's and stricter than Binance's
open-orders-only check: a bot that resends an order after a timeout must be told
"Duplicate order sent." and look the first one up, never get a second fill.

Fills: a market order fills at once at the market's price; a limit order fills at its
limit price when the market crosses it (checked on each request and by the server's
background loop). The fee (``fee_rate``, 0.1 % like Binance's base tier) is taken from
the asset received. A *partial fill* fault fills half now and holds the rest until the
next ``advance`` (a deterministic stand-in for thin liquidity).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from venues.exchange import errors
from venues.exchange.symbols import SymbolSpec

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
Params = dict[str, str]


@dataclass
class Fill:
    price: str
    qty: str
    commission: str
    commissionAsset: str  # Binance's field names, sent as they are
    tradeId: int


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    time_in_force: str
    orig_qty: str
    price: str  # "0" for a market order, as Binance reports it
    reference_price: str  # what a buy locked per unit (limit price, or the market price at entry)
    executed_qty: str = "0"
    cumulative_quote: str = "0"
    status: str = "NEW"
    time_ms: int = 0
    update_ms: int = 0
    held: bool = False  # a partial-fill fault holds the remainder until the next advance
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return Decimal(self.orig_qty) - Decimal(self.executed_qty)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Book:
    """Balances and orders of the emulator's one account."""

    def __init__(
        self,
        symbols: tuple[SymbolSpec, ...],
        *,
        price: Callable[[SymbolSpec], float],
        now_ms: Callable[[], int],
        balances: dict[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.001"),
    ) -> None:
        self.symbols = {spec.symbol: spec for spec in symbols}
        self._price, self._now_ms, self.fee_rate = price, now_ms, fee_rate
        self.lock = threading.RLock()
        self.free: dict[str, Decimal] = dict(balances if balances is not None else {"USDT": Decimal(100_000)})
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.by_client_id: dict[tuple[str, str], int] = {}  # (symbol, clientOrderId) -> orderId
        self.used_client_ids: set[str] = set()
        self.next_order_id = 1
        self.next_trade_id = 1
        self.partial_fills = 0  # fault: the next N fills are halves

    # ---- lookups ----------------------------------------------------------------------

    def spec(self, symbol: str | None) -> SymbolSpec:
        if not symbol or symbol not in self.symbols:
            raise errors.invalid_symbol()
        return self.symbols[symbol]

    def market_price(self, spec: SymbolSpec) -> Decimal:
        """The market's price now, on the symbol's tick (a fill price Binance could print)."""
        raw = Decimal(str(self._price(spec)))
        return max(spec.tick_size, raw.quantize(spec.tick_size, rounding=ROUND_DOWN))

    def trades(self, params: Params) -> list[tuple[Order, Fill]]:
        """Every fill on ``symbol`` (of one ``orderId`` when given), by trade id."""
        with self.lock:
            spec = self.spec(params.get("symbol"))
            wanted = params.get("orderId")
            rows = [
                (order, fill)
                for order in self.orders.values()
                if order.symbol == spec.symbol and (not wanted or str(order.order_id) == wanted)
                for fill in order.fills
            ]
        return sorted(rows, key=lambda row: row[1].tradeId)

    def find(self, params: Params) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (-2013 when there is none)."""
        with self.lock:
            spec = self.spec(params.get("symbol"))
            if params.get("orderId"):
                try:
                    order = self.orders.get(int(params["orderId"]))
                except ValueError:
                    raise errors.bad_param("orderId") from None
            elif params.get("origClientOrderId"):
                order_id = self.by_client_id.get((spec.symbol, params["origClientOrderId"]))
                order = self.orders.get(order_id) if order_id is not None else None
            else:
                raise errors.BinanceError(
                    400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
                )
            if order is None or order.symbol != spec.symbol:
                raise errors.order_missing()
            return order

    def open_orders(self, symbol: str | None) -> list[Order]:
        with self.lock:
            if symbol is not None:
                self.spec(symbol)
            return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    # ---- changes ----------------------------------------------------------------------

    def place(self, params: Params) -> Order:
        """Validate and place an order (Binance's order of checks, duplicate id first)."""
        with self.lock:
            spec = self.spec(params.get("symbol"))
            side, kind = params.get("side", ""), params.get("type", "")
            if side not in ("BUY", "SELL"):
                raise errors.BinanceError(400, -1117, "Invalid side.")
            if kind not in ("MARKET", "LIMIT"):
                raise errors.BinanceError(400, -1116, "Invalid orderType.")
            quantity = _decimal(params, "quantity")
            limit = _decimal(params, "price") if kind == "LIMIT" else None
            tif = params.get("timeInForce", "GTC" if kind == "MARKET" else "")
            if kind == "LIMIT" and tif not in ("GTC", "IOC", "FOK"):
                raise errors.bad_param("timeInForce")
            client_id = params.get("newClientOrderId") or f"emu-{secrets.token_hex(8)}"
            if client_id in self.used_client_ids:
                raise errors.duplicate_order()
            now_price = self.market_price(spec)
            spec.check(quantity, limit, now_price)
            reference = limit if limit is not None else now_price
            asset, amount = (spec.quote, quantity * reference) if side == "BUY" else (spec.base, quantity)
            if self.free.get(asset, Decimal(0)) < amount:
                raise errors.insufficient_balance()
            now = self._now_ms()
            order = Order(
                order_id=self.next_order_id,
                client_order_id=client_id,
                symbol=spec.symbol,
                side=side,
                type=kind,
                time_in_force=tif,
                orig_qty=str(quantity),
                price=str(limit) if limit is not None else "0",
                reference_price=str(reference),
                time_ms=now,
                update_ms=now,
            )
            self.next_order_id += 1
            self.used_client_ids.add(client_id)
            self.by_client_id[(spec.symbol, client_id)] = order.order_id
            self.orders[order.order_id] = order
            self._move(asset, amount, to_locked=True)
            self._try_fill(order, now_price, on_arrival=True)
            if order.is_open and kind == "LIMIT" and tif in ("IOC", "FOK") and not order.held:
                self._close(order, "EXPIRED")
            return order

    def cancel(self, params: Params) -> Order:
        with self.lock:
            try:
                order = self.find(params)
            except errors.BinanceError as exc:
                if exc.code == -2013:
                    raise errors.cancel_unknown() from None
                raise
            if not order.is_open:
                raise errors.cancel_unknown()
            self._close(order, "CANCELED")
            return order

    def match(self) -> int:
        """Fill what the market now crosses; returns how many orders filled (fully or partly)."""
        with self.lock:
            count = 0
            for order in list(self.orders.values()):
                if order.is_open and not order.held:
                    before = order.executed_qty
                    self._try_fill(order, self.market_price(self.symbols[order.symbol]))
                    count += order.executed_qty != before
            return count

    def release_holds(self) -> None:
        with self.lock:
            for order in self.orders.values():
                order.held = False

    def set_balance(self, asset: str, free: Decimal) -> None:
        with self.lock:
            self.free[asset] = free

    # ---- internals --------------------------------------------------------------------

    def _try_fill(self, order: Order, market: Decimal, *, on_arrival: bool = False) -> None:
        if order.type == "MARKET":
            price = market
        else:
            limit = Decimal(order.price)
            crossed = market <= limit if order.side == "BUY" else market >= limit
            if not crossed:
                return
            # marketable on arrival: the taker gets the (better) market price; resting: the limit
            price = market if on_arrival else limit
        quantity = order.remaining
        if self.partial_fills > 0 and order.time_in_force != "FOK":
            self.partial_fills -= 1
            step = self.symbols[order.symbol].step_size
            quantity = max(step, (quantity / 2 / step).to_integral_value(rounding=ROUND_DOWN) * step)
            order.held = quantity < order.remaining
        self._fill(order, quantity, price)

    def _fill(self, order: Order, quantity: Decimal, price: Decimal) -> None:
        spec = self.symbols[order.symbol]
        cost = quantity * price
        if order.side == "BUY":
            self.locked[spec.quote] -= quantity * Decimal(order.reference_price)
            self.free[spec.quote] += quantity * Decimal(order.reference_price) - cost
            fee, fee_asset = quantity * self.fee_rate, spec.base
            self.free[spec.base] = self.free.get(spec.base, Decimal(0)) + quantity - fee
        else:
            self.locked[spec.base] -= quantity
            fee, fee_asset = cost * self.fee_rate, spec.quote
            self.free[spec.quote] = self.free.get(spec.quote, Decimal(0)) + cost - fee
        order.fills.append(Fill(str(price), str(quantity), str(fee), fee_asset, self.next_trade_id))
        self.next_trade_id += 1
        order.executed_qty = str(Decimal(order.executed_qty) + quantity)
        order.cumulative_quote = str(Decimal(order.cumulative_quote) + cost)
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_ms = self._now_ms()

    def _close(self, order: Order, status: str) -> None:
        spec = self.symbols[order.symbol]
        if order.side == "BUY":
            self._move(spec.quote, order.remaining * Decimal(order.reference_price), to_locked=False)
        else:
            self._move(spec.base, order.remaining, to_locked=False)
        order.status, order.held, order.update_ms = status, False, self._now_ms()

    def _move(self, asset: str, amount: Decimal, *, to_locked: bool) -> None:
        sign = 1 if to_locked else -1
        self.free[asset] = self.free.get(asset, Decimal(0)) - sign * amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + sign * amount

    # ---- persistence ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "free": {k: str(v) for k, v in self.free.items()},
                "locked": {k: str(v) for k, v in self.locked.items()},
                "orders": [asdict(o) for o in self.orders.values()],
                "used_client_ids": sorted(self.used_client_ids),
                "next_order_id": self.next_order_id,
                "next_trade_id": self.next_trade_id,
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.free = {k: Decimal(v) for k, v in data["free"].items()}
            self.locked = {k: Decimal(v) for k, v in data["locked"].items()}
            self.orders = {}
            for raw in data["orders"]:
                order = Order(**{**raw, "fills": [Fill(**f) for f in raw["fills"]]})
                self.orders[order.order_id] = order
            self.by_client_id = {(o.symbol, o.client_order_id): o.order_id for o in self.orders.values()}
            self.used_client_ids = set(data["used_client_ids"])
            self.next_order_id, self.next_trade_id = data["next_order_id"], data["next_trade_id"]


def _decimal(params: Params, name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except (KeyError, InvalidOperation):
        raise errors.bad_param(name) from None
    if not value.is_finite() or value <= 0:
        raise errors.BinanceError(400, -1013, f"Invalid {name}.")
    return value
