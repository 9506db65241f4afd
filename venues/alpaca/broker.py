"""The account behind the emulator: cash, signed positions, orders and how they fill.

Fill rules (simple on purpose, documented for the bots' authors):

* Market orders fill at the market's last trade price once the symbol's session is open;
  one placed while closed (``day``/``gtc``) waits for the next open and fills at that
  moment's price; ``opg`` always fills at the next session's opening price; ``ioc`` while
  closed is canceled. With ``parts = K`` (the ``partial_fills`` fault) an order fills in K
  equal parts one sim minute apart (the next open when a session ends in between).
* Limit orders fill at the limit once a closed minute bar crosses it (at the current
  price when marketable on arrival); ``ioc`` limits that are not marketable are canceled;
  ``day`` limits expire at their session's close; ``opg`` limits fill at the open price if
  it crosses, else expire.
* Buying power is cash minus what open buy orders reserve (no margin multiplier); a short
  sale of a stock needs as much buying power as its value; crypto cannot be shorted.

Every change calls ``on_event`` with a ``trade_updates`` payload, and ``on_change`` so the
server can persist. All methods hold one lock: HTTP handlers, the ticker and tests share it.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from venues.alpaca.orders import Order
from venues.alpaca.wire import NEW_YORK, AlpacaError, Asset, Assets, Json, money, rfc3339
from venues.market import Market

EPS = 1e-9
_MINUTE = timedelta(minutes=1)


class Broker:
    def __init__(
        self,
        market: Market,
        assets: Assets,
        *,
        cash: float,
        on_event: Callable[[Json], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.market, self.assets = market, assets
        self.cash = cash
        self.account_id = str(uuid.uuid4())
        self.account_number = f"PA{uuid.uuid4().hex[:10].upper()}"
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, tuple[float, float]] = {}  # asset symbol -> (signed qty, avg entry)
        self.on_event = on_event or (lambda _event: None)
        self.on_change = on_change or (lambda: None)
        self.lock = threading.RLock()

    # ---- requests ---------------------------------------------------------------------

    def submit(self, body: Json, *, parts: int = 1) -> Json:
        with self.lock:
            client_id = str(body.get("client_order_id") or uuid.uuid4())
            if client_id in self.by_client_id:
                raise AlpacaError(422, 40010001, "client_order_id must be unique")
            if len(client_id) > 128:
                raise AlpacaError(422, 40010001, "client_order_id must be no more than 128 characters")
            asset = self._asset(body.get("symbol"))
            order = self._validated(body, asset, client_id, parts)
            self._check_buying_power(order, asset)
            self.orders[order.id] = order
            self.by_client_id[client_id] = order.id
            self._schedule(order, asset)
            if order.open:
                self._emit("new", order)
            self.on_change()
            return order.to_json(asset)

    def cancel(self, order_id: str) -> None:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise AlpacaError(404, 40410000, "order not found")
            if not order.open:
                raise AlpacaError(422, 42210000, f"order is not cancelable (status: {order.status})")
            self._finish(order, "canceled")
            self.on_change()

    def order(self, order_id: str) -> Json:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise AlpacaError(404, 40410000, "order not found")
            return self._order_json(order)

    def order_by_client_id(self, client_id: str) -> Json:
        with self.lock:
            if client_id not in self.by_client_id:
                raise AlpacaError(404, 40410000, "order not found")
            return self._order_json(self.orders[self.by_client_id[client_id]])

    def list_orders(self, status: str, limit: int, symbols: set[str] | None, newest_first: bool) -> list[Json]:
        with self.lock:
            chosen = [
                o
                for o in self.orders.values()
                if (status == "all" or (status == "open") == o.open)
                and (symbols is None or o.symbol in symbols or o.symbol.replace("/", "") in symbols)
            ]
            chosen.sort(key=lambda o: o.created_at, reverse=newest_first)
            return [self._order_json(o) for o in chosen[:limit]]

    def all_orders(self) -> list[Json]:
        with self.lock:
            return [self._order_json(o) for o in self.orders.values()]

    def set_position(self, symbol: str, qty: float, avg_entry_price: float) -> None:
        """Change a position behind the bots' back (cash untouched), for reconciliation tests."""
        with self.lock:
            asset = self._asset(symbol)
            if abs(qty) < EPS:
                self.positions.pop(asset.symbol, None)
            else:
                self.positions[asset.symbol] = (qty, avg_entry_price)
            self.on_change()

    # ---- views ------------------------------------------------------------------------

    def account(self) -> Json:
        with self.lock:
            long_value = sum(q * self._price(s) for s, (q, _) in self.positions.items() if q > 0)
            short_value = sum(q * self._price(s) for s, (q, _) in self.positions.items() if q < 0)
            equity = self.cash + long_value + short_value
            power = money(self._buying_power())
            return {
                "id": self.account_id,
                "account_number": self.account_number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": money(self.cash),
                "buying_power": power,
                "regt_buying_power": power,
                "daytrading_buying_power": "0",
                "non_marginable_buying_power": power,
                "options_buying_power": "0",
                "portfolio_value": money(equity),
                "equity": money(equity),
                "last_equity": money(equity),
                "long_market_value": money(long_value),
                "short_market_value": money(short_value),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "multiplier": "1",
                "daytrade_count": 0,
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": True,
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "created_at": rfc3339(self.market.clock.origin),
            }

    def position_list(self) -> list[Json]:
        with self.lock:
            return [self._position_json(symbol) for symbol in sorted(self.positions)]

    def position(self, symbol: str) -> Json:
        with self.lock:
            asset = self.assets.find(symbol)
            if asset is None or asset.symbol not in self.positions:
                raise AlpacaError(404, 40410000, "position does not exist")
            return self._position_json(asset.symbol)

    # ---- the matching engine ----------------------------------------------------------

    def step(self) -> None:
        """Bring every open order up to the sim clock's now (fills, expiries)."""
        with self.lock:
            now = self.market.clock.now().timestamp()
            changed = False
            for order in [o for o in self.orders.values() if o.open]:
                asset = self._asset(order.symbol)
                changed |= self._step_market(order, asset, now) if order.type == "market" else False
                changed |= self._step_limit(order, asset, now) if order.type == "limit" else False
            if changed:
                self.on_change()

    def _schedule(self, order: Order, asset: Asset) -> None:
        """Decide when an order can first fill, or refuse it right away (ioc while closed)."""
        t = order.created_at
        at = datetime.fromtimestamp(t, UTC)
        is_open = self.market.is_open(asset.symbol, at)
        if order.time_in_force == "opg":
            start = self.market.next_open(asset.symbol, at).timestamp()
            order.expires_at = self.market.next_close(asset.symbol, datetime.fromtimestamp(start, UTC)).timestamp()
        elif is_open:
            start = t
            order.status = "new"
            if order.time_in_force == "day":
                order.expires_at = self.market.next_close(asset.symbol, at).timestamp()
        elif order.time_in_force == "ioc":
            self._finish(order, "canceled", emit=False)
            return
        else:
            start = self.market.next_open(asset.symbol, at).timestamp()
            if order.time_in_force == "day":
                order.expires_at = self.market.next_close(asset.symbol, datetime.fromtimestamp(start, UTC)).timestamp()
        order.next_fill_at = start if order.type == "market" else None
        order.checked_until = start

    def _step_market(self, order: Order, asset: Asset, now: float) -> bool:
        changed = False
        while order.open and order.next_fill_at is not None and order.next_fill_at <= now:
            at = datetime.fromtimestamp(order.next_fill_at, UTC)
            if order.time_in_force == "opg" and order.parts_done == 0:
                price = self.market.session_open_price(asset.symbol, self._session_date(asset, at))
            else:
                price = self.market.price(asset.symbol, at)
            left = order.remaining(price)
            part = left if order.parts_done >= order.parts - 1 else left / (order.parts - order.parts_done)
            self._fill(order, asset, part, price, order.next_fill_at)
            nxt = order.next_fill_at + 60
            if not self.market.is_open(asset.symbol, datetime.fromtimestamp(nxt, UTC)):
                nxt = self.market.next_open(asset.symbol, datetime.fromtimestamp(nxt, UTC)).timestamp()
            order.next_fill_at = nxt if order.open else None
            changed = True
        return changed

    def _step_limit(self, order: Order, asset: Asset, now: float) -> bool:
        limit = order.limit_price or 0.0
        buy = order.side == "buy"
        deadline = min(now, order.expires_at or math.inf)
        if order.checked_until <= deadline:
            start = datetime.fromtimestamp(order.checked_until, UTC)
            if order.time_in_force == "opg":  # the opening auction: fills at the open, or never
                price = self.market.session_open_price(asset.symbol, self._session_date(asset, start))
                if (price <= limit) if buy else (price >= limit):
                    self._fill(order, asset, order.remaining(price), price, order.checked_until)
                else:
                    self._finish(order, "expired")
                return True
            elif self.market.is_open(asset.symbol, start) and order.checked_until == order.created_at:
                price = self.market.price(asset.symbol, start)  # marketable on arrival
                if (price <= limit) if buy else (price >= limit):
                    self._fill(order, asset, order.remaining(price), price, order.checked_until)
                    return True
            if order.time_in_force == "ioc":
                self._finish(order, "canceled")
                return True
            end = datetime.fromtimestamp(deadline, UTC)
            for bar in self.market.bars(asset.symbol, _MINUTE, start.replace(second=0, microsecond=0), end):
                if bar.start.timestamp() + 60 <= order.checked_until:
                    continue
                if (bar.low <= limit) if buy else (bar.high >= limit):
                    self._fill(order, asset, order.remaining(limit), limit, bar.start.timestamp() + 60)
                    return True
                order.checked_until = bar.start.timestamp() + 60
        if order.expires_at is not None and now >= order.expires_at:
            self._finish(order, "expired")
            return True
        return False

    def _fill(self, order: Order, asset: Asset, qty: float, price: float, at: float) -> None:
        if qty <= EPS:
            self._finish(order, "filled" if order.filled_qty > 0 else "canceled")
            return
        total = order.filled_qty + qty
        order.filled_avg_price = ((order.filled_avg_price or 0.0) * order.filled_qty + price * qty) / total
        order.filled_qty = total
        order.parts_done += 1
        signed = qty if order.side == "buy" else -qty
        self.cash -= signed * price
        held, avg = self.positions.get(asset.symbol, (0.0, 0.0))
        new = held + signed
        if abs(new) < EPS:
            self.positions.pop(asset.symbol, None)
        else:
            if held == 0 or (held > 0) != (new > 0):
                avg = price  # opened, or flipped through zero
            elif (held > 0) == (signed > 0):
                avg = (avg * abs(held) + price * qty) / abs(new)  # added to it
            self.positions[asset.symbol] = (new, avg)
        done = order.remaining(price) <= EPS or (order.qty is None and order.parts_done >= order.parts)
        order.status = "filled" if done else "partially_filled"
        order.updated_at = at
        if done:
            order.filled_at = at
        self._emit("fill" if done else "partial_fill", order, price=price, qty=qty, at=at)

    def _finish(self, order: Order, status: str, *, emit: bool = True) -> None:
        now = self.market.clock.now().timestamp()
        order.status, order.updated_at = status, now
        if status == "canceled":
            order.canceled_at = now
        elif status == "expired":
            order.expired_at = now
        order.next_fill_at = None
        if emit:
            self._emit(status, order)

    # ---- helpers ----------------------------------------------------------------------

    def _emit(self, event: str, order: Order, *, price: float | None = None, qty: float | None = None,
              at: float | None = None) -> None:  # fmt: skip
        asset = self._asset(order.symbol)
        when = datetime.fromtimestamp(at if at is not None else self.market.clock.now().timestamp(), UTC)
        data: Json = {"event": event, "timestamp": rfc3339(when), "order": order.to_json(asset)}
        if event in ("fill", "partial_fill"):
            data.update(
                execution_id=str(uuid.uuid4()),
                price=money(price or 0.0),
                qty=money(qty or 0.0),
                position_qty=money(self.positions.get(asset.symbol, (0.0, 0.0))[0]),
            )
        self.on_event({"stream": "trade_updates", "data": data})

    def _asset(self, symbol: Any) -> Asset:
        asset = self.assets.find(str(symbol or ""))
        if asset is None:
            raise AlpacaError(422, 40010001, f'asset "{symbol}" not found')
        return asset

    def _session_date(self, asset: Asset, at: datetime) -> date:
        return at.astimezone(UTC).date() if asset.crypto else at.astimezone(NEW_YORK).date()

    def _price(self, symbol: str) -> float:
        return self.market.price(symbol)

    def _order_json(self, order: Order) -> Json:
        return order.to_json(self._asset(order.symbol))

    def _buying_power(self) -> float:
        reserved = 0.0
        for o in self.orders.values():
            if o.open and o.side == "buy":
                price = o.limit_price or self._price(o.symbol)
                reserved += o.remaining(price) * price
        return max(self.cash - reserved, 0.0)

    def _check_buying_power(self, order: Order, asset: Asset) -> None:
        price = order.limit_price or self._price(asset.symbol)
        qty = order.remaining(price)
        held = self.positions.get(asset.symbol, (0.0, 0.0))[0]
        if order.side == "buy":
            cost = qty * price
        else:
            opening_short = max(qty - max(held, 0.0), 0.0)
            if asset.crypto and opening_short > EPS:
                base = asset.symbol.split("/")[0]
                raise AlpacaError(
                    403,
                    40310000,
                    f"insufficient balance for {base} (requested: {money(qty)}, available: {money(max(held, 0.0))})",
                )
            cost = opening_short * price
        if cost > self._buying_power() + EPS:
            raise AlpacaError(403, 40310000, "insufficient buying power")

    def _validated(self, body: Json, asset: Asset, client_id: str, parts: int) -> Order:
        side, kind, tif = body.get("side"), body.get("type") or body.get("order_type"), body.get("time_in_force")
        if side not in ("buy", "sell"):
            raise AlpacaError(422, 40010001, "side must be buy or sell")
        if kind not in ("market", "limit"):
            raise AlpacaError(422, 40010001, f"order type {kind!r} is not supported (market, limit)")
        if tif not in ("day", "gtc", "ioc", "opg", "fok", "cls"):
            raise AlpacaError(422, 40010001, "invalid time_in_force")
        if tif in ("fok", "cls"):
            raise AlpacaError(422, 40010001, f"time_in_force {tif} is not supported by the emulator")
        if asset.crypto and tif not in ("gtc", "ioc"):
            raise AlpacaError(422, 42210000, "invalid crypto time_in_force")
        qty, notional = _number(body, "qty"), _number(body, "notional")
        if (qty is None) == (notional is None):
            raise AlpacaError(422, 40010001, "qty or notional is required (exactly one)")
        if (qty is not None and qty <= 0) or (notional is not None and notional <= 0):
            raise AlpacaError(422, 40010001, "qty and notional must be > 0")
        if notional is not None and kind != "market":
            raise AlpacaError(422, 40010001, "notional orders must be market orders")
        limit = _number(body, "limit_price")
        if kind == "limit" and (limit is None or limit <= 0):
            raise AlpacaError(422, 40010001, "limit_price is required for limit orders")
        now = self.market.clock.now().timestamp()
        return Order(
            id=str(uuid.uuid4()),
            client_order_id=client_id,
            symbol=asset.symbol,
            side=side,
            type=kind,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit if kind == "limit" else None,
            created_at=now,
            updated_at=now,
            parts=max(parts, 1) if kind == "market" else 1,
        )

    def _position_json(self, symbol: str) -> Json:
        asset = self._asset(symbol)
        qty, avg = self.positions[symbol]
        price = self._price(symbol)
        last = self.market.price(symbol, self.market.clock.now().replace(hour=0, minute=0, second=0, microsecond=0))
        value, basis = qty * price, qty * avg
        return {
            "asset_id": asset.id,
            "symbol": asset.position_symbol,
            "exchange": asset.exchange,
            "asset_class": "crypto" if asset.crypto else "us_equity",
            "asset_marginable": not asset.crypto,
            "qty": money(qty),
            "qty_available": money(qty),
            "avg_entry_price": money(avg),
            "side": "long" if qty > 0 else "short",
            "market_value": money(value),
            "cost_basis": money(basis),
            "unrealized_pl": money(value - basis),
            "unrealized_plpc": money((value - basis) / abs(basis) if basis else 0.0),
            "unrealized_intraday_pl": money(qty * (price - last)),
            "unrealized_intraday_plpc": money((price - last) / last if last else 0.0),
            "current_price": money(price),
            "lastday_price": money(last),
            "change_today": money((price - last) / last if last else 0.0),
        }

    # ---- persistence ------------------------------------------------------------------

    def snapshot(self) -> Json:
        with self.lock:
            return {
                "account_id": self.account_id,
                "account_number": self.account_number,
                "cash": self.cash,
                "orders": [o.to_state() for o in self.orders.values()],
                "positions": {s: list(p) for s, p in self.positions.items()},
                "used_client_order_ids": sorted(self.by_client_id),
            }

    def restore(self, data: Json) -> None:
        with self.lock:
            self.account_id, self.account_number = data["account_id"], data["account_number"]
            self.cash = float(data["cash"])
            self.orders = {o["id"]: Order.from_state(o) for o in data["orders"]}
            self.by_client_id = {o.client_order_id: o.id for o in self.orders.values()}
            self.positions = {s: (float(q), float(a)) for s, (q, a) in data["positions"].items()}


def _number(body: Json, key: str) -> float | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AlpacaError(422, 40010001, f"{key} must be a number") from None
    if not math.isfinite(number):
        raise AlpacaError(422, 40010001, f"{key} must be a number")
    return number
