"""Binance's JSON shapes for orders, balances and klines (numbers as 8-decimal strings).

``newOrderRespType`` picks how much of an order ``POST /api/v3/order`` returns: ``ACK``
(ids only), ``RESULT`` (the order) or ``FULL`` (the order and its ``fills``, what ccxt
asks for on spot). Queries and cancels use their own, slightly different field sets.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from venues.exchange.book import Fill, Order
from venues.exchange.symbols import SymbolSpec
from venues.market import Bar

Json = dict[str, Any]
INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}


def num(value: str | Decimal | float) -> str:
    return f"{Decimal(str(value)):.8f}"


def _common(order: Order) -> Json:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": num(order.price),
        "origQty": num(order.orig_qty),
        "executedQty": num(order.executed_qty),
        "cummulativeQuoteQty": num(order.cumulative_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def order_placed(order: Order, resp_type: str) -> Json:
    """The answer to ``POST /api/v3/order``."""
    ack = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time_ms,
    }
    if resp_type == "ACK":
        return ack
    body = {**ack, **_common(order), "workingTime": order.time_ms, "origQuoteOrderQty": num(0)}
    if resp_type == "FULL":
        body["fills"] = [
            {**asdict(f), "price": num(f.price), "qty": num(f.qty), "commission": num(f.commission)}
            for f in order.fills
        ]
    return body


def trade(order: Order, fill: Fill) -> Json:
    """One entry of ``GET /api/v3/myTrades``."""
    price, qty = Decimal(fill.price), Decimal(fill.qty)
    return {
        "symbol": order.symbol,
        "id": fill.tradeId,
        "orderId": order.order_id,
        "orderListId": -1,
        "price": num(fill.price),
        "qty": num(fill.qty),
        "quoteQty": num(str(price * qty)),
        "commission": num(fill.commission),
        "commissionAsset": fill.commissionAsset,
        "time": order.update_ms,
        "isBuyer": order.side == "BUY",
        "isMaker": False,
        "isBestMatch": True,
    }


def order_queried(order: Order) -> Json:
    """``GET /api/v3/order`` and each entry of ``GET /api/v3/openOrders``."""
    return {
        **_common(order),
        "stopPrice": num(0),
        "icebergQty": num(0),
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": True,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": num(0),
    }


def order_canceled(order: Order, transact_ms: int) -> Json:
    """``DELETE /api/v3/order``."""
    return {**_common(order), "origClientOrderId": order.client_order_id, "transactTime": transact_ms}


def balances(free: dict[str, Decimal], locked: dict[str, Decimal]) -> list[Json]:
    assets = sorted(set(free) | set(locked))
    return [{"asset": a, "free": num(free.get(a, 0)), "locked": num(locked.get(a, 0))} for a in assets]


def kline(spec: SymbolSpec, bar: Bar, tf: timedelta) -> list[Any]:
    """One ``klines`` row: open time, OHLC on the symbol's tick, volume, close time (last ms), …"""
    open_ms = int(bar.start.astimezone(UTC).timestamp() * 1000)
    close_ms = open_ms + int(tf.total_seconds() * 1000) - 1

    def px(x: float) -> str:
        return num(Decimal(str(x)).quantize(spec.tick_size, rounding=ROUND_HALF_EVEN))

    volume = Decimal(str(bar.volume)).quantize(Decimal("0.00000001"))
    quote_volume = volume * Decimal(str(bar.close))
    row = [open_ms, px(bar.open), px(bar.high), px(bar.low), px(bar.close), num(volume), close_ms]
    return [*row, num(quote_volume), 0, num(0), num(0), "0"]
