"""Alpaca (US stocks and crypto) behind ``trader.venue.Venue``, through the official ``alpaca-py``.

alpaca-py is synchronous (``requests``), so every call runs in a worker thread. Two of its
defaults are wrong for a trading bot and are changed on the clients it builds:

- it retries 429 and 504 three times with 3 s waits, *order POSTs included*: a 504 after the
  venue accepted the order would send it again. Retries are off here; ``trader.execution``
  looks the order up by its client order id before anything is resent;
- it sets no HTTP timeout, so a call could hang forever: every request gets one.

Stocks trade in whole shares (fractional orders are limited to market/limit DAY orders and
cannot be shorted, while a daily bot sends market-on-open orders); crypto in the asset's
minimum increment. Crypto positions come back as ``BTCUSD`` and are keyed ``BTC/USD``, like
the bot's symbols.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.crypto import CryptoHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from requests.adapters import HTTPAdapter

from trader.venue import (
    Account,
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    Position,
    SymbolRules,
    UnknownSymbol,
    VenueAuthError,
    VenueBar,
    VenueClock,
    VenueError,
    VenueOrder,
    VenueUnavailable,
)

T = TypeVar("T")
TIMEOUT_S = 10.0
READ_ATTEMPTS = 5  # a 429 storm or a 504 on a read: back off and ask again (0.25 s, 0.5 s, 1 s, 2 s)
READ_BACKOFF_S = 0.25
QUOTES = ("USDT", "USDC", "USD", "BTC")
TIMEFRAMES = {
    "1m": TimeFrame(1, TimeFrameUnit.Minute),
    "5m": TimeFrame(5, TimeFrameUnit.Minute),
    "15m": TimeFrame(15, TimeFrameUnit.Minute),
    "1h": TimeFrame(1, TimeFrameUnit.Hour),
    "4h": TimeFrame(4, TimeFrameUnit.Hour),
    "1d": TimeFrame(1, TimeFrameUnit.Day),
}
_STATUS: dict[str, OrderStatus] = {
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "replaced": "canceled",
    "expired": "expired",
    "done_for_day": "expired",
    "rejected": "rejected",
}
DUPLICATE_CLIENT_ID = 40010001


class _TimeoutAdapter(HTTPAdapter):
    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT_S
        return super().send(request, **kwargs)


def _harden(client: Any) -> Any:
    client._retry = 0  # see the module docstring: resends are trader.execution's decision
    adapter = _TimeoutAdapter()
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


def bot_symbol(venue_symbol: str, *, crypto: bool) -> str:
    """``BTCUSD`` -> ``BTC/USD`` for crypto; stocks unchanged."""
    if not crypto or "/" in venue_symbol:
        return venue_symbol
    for quote in QUOTES:
        if venue_symbol.endswith(quote) and len(venue_symbol) > len(quote):
            return f"{venue_symbol[: -len(quote)]}/{quote}"
    return venue_symbol


class AlpacaVenue:
    def __init__(self, key_id: str, secret_key: str, *, paper: bool, base_url: str | None = None) -> None:
        self.name = "alpaca paper" if paper else "alpaca"
        self.paper = paper
        self._trading = _harden(TradingClient(key_id, secret_key, paper=paper, url_override=base_url))
        self._stocks = _harden(StockHistoricalDataClient(key_id, secret_key, url_override=base_url))
        self._crypto = _harden(CryptoHistoricalDataClient(key_id, secret_key, url_override=base_url))

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, idempotent: bool = True) -> T:
        """One SDK call in a thread; reads are retried through short outages, an order POST never is."""
        for attempt in range(READ_ATTEMPTS if idempotent else 1):
            if attempt:
                await asyncio.sleep(READ_BACKOFF_S * 2 ** (attempt - 1))
            try:
                return await asyncio.to_thread(fn, *args)
            except APIError as exc:
                error = _mapped(exc, self.name, what)
            except requests.RequestException as exc:
                error = VenueUnavailable(f"{self.name} did not answer {what}: {type(exc).__name__}")
            if not isinstance(error, VenueUnavailable):
                raise error from None
        raise error from None

    async def account(self) -> Account:
        account = await self._call("the account request", self._trading.get_account)
        return Account(cash=float(account.cash or 0), equity=float(account.equity or 0), paper=self.paper)

    async def positions(self) -> dict[str, Position]:
        held = await self._call("the positions request", self._trading.get_all_positions)
        out = {}
        for position in held:
            crypto = str(getattr(position.asset_class, "value", position.asset_class)) == "crypto"
            symbol = bot_symbol(position.symbol, crypto=crypto)
            sign = -1.0 if str(getattr(position.side, "value", position.side)) == "short" else 1.0
            quantity = abs(float(position.qty)) * sign
            out[symbol] = Position(symbol, quantity, float(position.avg_entry_price))
        return out

    async def rules(self, symbol: str) -> SymbolRules:
        try:
            asset = await self._call(f"the asset request for {symbol}", self._trading.get_asset, symbol)
        except (_NotFound, OrderRejected):
            raise UnknownSymbol(f"{self.name} does not list {symbol!r}: check market.symbols") from None
        if not asset.tradable:
            raise UnknownSymbol(f"{self.name} lists {symbol!r} but it is not tradable")
        if "/" in symbol or str(getattr(asset.asset_class, "value", asset.asset_class)) == "crypto":
            return SymbolRules(
                symbol,
                min_quantity=float(asset.min_order_size or 0),
                quantity_step=float(asset.min_trade_increment or 0),
                price_tick=float(asset.price_increment or 0),
            )
        return SymbolRules(symbol, min_quantity=1.0, quantity_step=1.0, price_tick=0.01)

    async def clock(self) -> VenueClock:
        clock = await self._call("the clock request", self._trading.get_clock)
        return VenueClock(
            now=clock.timestamp.astimezone(UTC),
            is_open=bool(clock.is_open),
            next_open=clock.next_open.astimezone(UTC),
            next_close=clock.next_close.astimezone(UTC),
        )

    async def submit(self, order: OrderRequest) -> VenueOrder:
        common: dict[str, Any] = {
            "symbol": order.symbol,
            "qty": order.quantity,
            "side": OrderSide.BUY if order.side == "buy" else OrderSide.SELL,
            "time_in_force": AlpacaTimeInForce(order.time_in_force),
            "client_order_id": order.client_order_id,
        }
        request = (
            MarketOrderRequest(**common)
            if order.limit_price is None
            else LimitOrderRequest(**common, limit_price=order.limit_price)
        )
        placed = await self._call(
            f"order {order.client_order_id}", self._trading.submit_order, request, idempotent=False
        )
        return _venue_order(placed)

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            found = await self._call(
                f"the lookup of order {client_order_id}", self._trading.get_order_by_client_id, client_order_id
            )
        except _NotFound:
            return None
        return _venue_order(found)

    async def open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=symbols, limit=500)
        found = await self._call("the open-orders request", self._trading.get_orders, request)
        return [_venue_order(order) for order in found]

    async def cancel(self, order: VenueOrder) -> None:
        try:
            await self._call(
                f"the cancel of {order.client_order_id}", self._trading.cancel_order_by_id, order.venue_order_id
            )
        except _NotFound:
            return

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        timeframe = TIMEFRAMES[interval]
        if "/" in symbol:
            request: Any = CryptoBarsRequest(symbol_or_symbols=symbol, timeframe=timeframe, start=start, end=end)
            barset = await self._call(f"bars for {symbol}", self._crypto.get_crypto_bars, request)
        else:
            request = StockBarsRequest(symbol_or_symbols=symbol, timeframe=timeframe, start=start, end=end)
            barset = await self._call(f"bars for {symbol}", self._stocks.get_stock_bars, request)
        return [
            VenueBar(
                start=bar.timestamp.astimezone(UTC),
                open=float(bar.open),
                high=float(bar.high),
                low=float(bar.low),
                close=float(bar.close),
                volume=float(bar.volume),
            )
            for bar in barset.data.get(symbol, [])
        ]

    async def close(self) -> None:
        for client in (self._trading, self._stocks, self._crypto):
            client._session.close()


class _NotFound(VenueError):
    pass


def _mapped(exc: APIError, venue: str, what: str) -> VenueError:
    status = exc.status_code
    try:
        code, message = exc.code, exc.message
    except (ValueError, KeyError, TypeError):  # a body that is not Alpaca's JSON error
        code, message = None, str(exc)[:200]
    if status in (401, 403) and code != 40310000:
        return VenueAuthError(f"{venue} refused the API keys ({message}): check the connection's key id and secret")
    if status == 404:
        return _NotFound(f"{venue}: {what} found nothing")
    if status == 429 or (status is not None and status >= 500):
        return VenueUnavailable(f"{venue} answered {status} to {what}")
    if code == DUPLICATE_CLIENT_ID:
        return DuplicateClientOrderId(f"{venue} already has {what}")
    return OrderRejected(f"{venue} refused {what}: {message}")


def _venue_order(order: Any) -> VenueOrder:
    status = str(getattr(order.status, "value", order.status))
    side = str(getattr(order.side, "value", order.side))
    price = order.filled_avg_price
    return VenueOrder(
        client_order_id=order.client_order_id,
        venue_order_id=str(order.id),
        symbol=order.symbol,
        side="buy" if side == "buy" else "sell",
        quantity=float(order.qty or 0),
        filled_quantity=float(order.filled_qty or 0),
        average_price=None if price is None else float(price),
        status=_STATUS.get(status, "new"),
        submitted_at=None if order.submitted_at is None else order.submitted_at.isoformat(),
    )
