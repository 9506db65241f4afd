"""The venue port over ccxt (``ccxt.async_support``): any spot exchange ccxt knows.

Spot accounts have no positions, only balances, so this adapter reads a position as the
**total base-asset balance** (free + locked in open sell orders) of each ``BASE/QUOTE``
market of the bot's (``symbols``; without them, every market quoted in ``quote``), and
cash as the total ``quote`` balance. Exchanges keep no cost basis for a balance, so
``average_entry_price`` is 0.0: the runner's own ledger knows what it paid.

Endpoints: ``base_url`` (the runner passes ``$HMMTRADE_EXCHANGE_URL``, see
:func:`exchange_url_from_env`) replaces the host of every Binance API base that points at
the exchange's spot host (``public``, ``private``, ``v1``, ``sapi``…), after sandbox mode if
that is on, because ``set_sandbox_mode`` replaces ``urls['api']`` wholesale. Only Binance
speaks the emulator's wire protocol, so a base URL for another exchange is refused.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.async_support as ccxt

from trader.venue import (
    EXCHANGE_URL_ENV,
    Account,
    OrderRequest,
    OrderStatus,
    Position,
    SymbolRules,
    UnknownSymbol,
    VenueBar,
    VenueClock,
    VenueError,
    VenueOrder,
)
from trader.venues.ccxt_errors import translate

T = TypeVar("T")
BINANCE_LIKE = ("binance", "binanceus")
BINANCE_SPOT_OPTIONS: dict[str, Any] = {  # load_markets makes one call (exchangeInfo), not eight
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}
KLINES_PAGE = 1000
_TIME_IN_FORCE = {"day": "GTC", "gtc": "GTC", "ioc": "IOC"}  # crypto has no trading day


def exchange_url_from_env() -> str | None:
    """The operator's endpoint override (an emulator), or None for the exchange's own hosts."""
    return os.environ.get(EXCHANGE_URL_ENV) or None


class CcxtVenue:
    """One exchange account through ccxt; build with :meth:`create`, release with :meth:`close`."""

    def __init__(
        self,
        client: ccxt.Exchange,
        *,
        quote: str = "USDT",
        symbols: Sequence[str] | None = None,
        paper: bool | None = None,
    ) -> None:
        self._client = client
        self.name = f"ccxt:{client.id}"
        self.quote = quote
        self.symbols = list(symbols) if symbols else None
        self.paper = paper
        self._secrets = tuple(s for s in (client.apiKey, client.secret, client.password) if s)

    @classmethod
    def create(
        cls,
        exchange: str,
        api_key: str,
        api_secret: str,
        passphrase: str | None = None,
        *,
        base_url: str | None = None,
        sandbox: bool = False,
        symbols: Sequence[str] | None = None,
        quote: str | None = None,
    ) -> CcxtVenue:
        """A client for ``exchange`` (ccxt's id, e.g. ``binance``); no network call is made here."""
        if exchange not in ccxt.exchanges:
            close = difflib.get_close_matches(exchange, ccxt.exchanges, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise VenueError(
                f"ccxt knows no exchange named {exchange!r}; {hint}the names are ccxt's exchange ids "
                "(python -c 'import ccxt; print(ccxt.exchanges)')"
            )
        if base_url and exchange not in BINANCE_LIKE:
            raise VenueError(
                f"{EXCHANGE_URL_ENV} points ccxt:{exchange} at {base_url}, but only Binance-shaped exchanges "
                f"({', '.join(BINANCE_LIKE)}) speak the emulator's protocol; unset it for {exchange}"
            )
        config: dict[str, Any] = {"apiKey": api_key, "secret": api_secret, "enableRateLimit": True}
        if passphrase:
            config["password"] = passphrase
        if exchange in BINANCE_LIKE:
            config["options"] = dict(BINANCE_SPOT_OPTIONS)
        client: ccxt.Exchange = getattr(ccxt, exchange)(config)
        if sandbox:
            client.set_sandbox_mode(True)
        if base_url:
            _point_at(client, base_url)
        quotes = {s.split("/", 1)[1] for s in symbols or () if "/" in s}
        chosen_quote = quote or (quotes.pop() if len(quotes) == 1 else "USDT")
        return cls(client, quote=chosen_quote, symbols=symbols, paper=True if (sandbox or base_url) else None)

    # ---- the port -----------------------------------------------------------------------

    async def account(self) -> Account:
        balance = await self._call(self._client.fetch_balance(), "fetching the balance")
        cash = float(balance.get("total", {}).get(self.quote) or 0.0)
        positions = self._positions_from(balance)
        equity = cash
        if positions:
            tickers = await self._call(self._client.fetch_tickers(list(positions)), "fetching prices")
            for symbol, position in positions.items():
                last = tickers.get(symbol, {}).get("last")
                if last is None:
                    raise VenueError(f"{self.name} has no price for {symbol}: cannot mark the account")
                equity += position.quantity * float(last)
        return Account(cash=cash, equity=equity, currency=self.quote, paper=self.paper)

    async def positions(self) -> dict[str, Position]:
        balance = await self._call(self._client.fetch_balance(), "fetching the balance")
        return self._positions_from(balance)

    async def rules(self, symbol: str) -> SymbolRules:
        market = await self._market(symbol)
        limits, precision = market.get("limits") or {}, market.get("precision") or {}
        return SymbolRules(
            symbol=symbol,
            tradable=market.get("active") is not False,
            min_quantity=float((limits.get("amount") or {}).get("min") or 0.0),
            quantity_step=self._step(precision.get("amount")),
            min_notional=float((limits.get("cost") or {}).get("min") or 0.0),
            price_tick=self._step(precision.get("price")),
        )

    async def clock(self) -> VenueClock:
        millis = await self._call(self._client.fetch_time(), "fetching the time")
        return VenueClock(now=_dt(millis), is_open=True)  # crypto spot trades around the clock

    async def submit(self, order: OrderRequest) -> VenueOrder:
        await self._market(order.symbol)
        params: dict[str, Any] = {"newClientOrderId": order.client_order_id}
        kind = "market" if order.limit_price is None else "limit"
        if kind == "limit":
            tif = _TIME_IN_FORCE.get(order.time_in_force)
            if tif is None:
                raise VenueError(f"{self.name} has no {order.time_in_force!r} orders (use day, gtc or ioc)")
            params["timeInForce"] = tif
        what = f"placing {order.side} {order.quantity} {order.symbol} ({order.client_order_id})"
        placed = await self._call(
            self._client.create_order(order.symbol, kind, order.side, order.quantity, order.limit_price, params),
            what,
        )
        return _to_order(placed, order)

    async def order_by_client_id(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        await self._market(symbol)
        try:
            found = await self._client.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            raise self._translate(exc, f"looking up order {client_order_id} on {symbol}") from None
        order = _to_order(found)
        if order.filled_quantity <= 0:
            return order
        # fetch_order reports no fees on Binance; its trades do (a buy's fee is taken in the coin bought)
        trades = await self._call(
            self._client.fetch_my_trades(symbol, params={"orderId": order.venue_order_id}),
            f"reading the trades of order {client_order_id} on {symbol}",
        )
        base, quote = symbol.split("/", 1)
        fees = [trade.get("fee") or {} for trade in trades]
        return replace(
            order,
            fee_base=sum(float(fee.get("cost") or 0) for fee in fees if fee.get("currency") == base),
            fee_quote=sum(float(fee.get("cost") or 0) for fee in fees if fee.get("currency") == quote),
        )

    async def open_orders(self, symbols: list[str]) -> list[VenueOrder]:
        orders: list[VenueOrder] = []
        for symbol in symbols:  # most exchanges refuse an all-symbols query, or charge it heavily
            await self._market(symbol)
            rows = await self._call(self._client.fetch_open_orders(symbol), f"listing open orders on {symbol}")
            orders.extend(_to_order(row) for row in rows)
        return orders

    async def cancel(self, order: VenueOrder) -> None:
        what = f"canceling order {order.client_order_id} on {order.symbol}"
        try:
            await self._client.cancel_order(order.venue_order_id, order.symbol)
        except ccxt.OrderNotFound:
            raise VenueError(f"{self.name} {what}: the order is not open (filled, canceled or unknown)") from None
        except ccxt.BaseError as exc:
            raise self._translate(exc, what) from None

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        await self._market(symbol)
        if interval not in (self._client.timeframes or {}):
            raise VenueError(f"{self.name} has no {interval!r} bars (it has {', '.join(self._client.timeframes)})")
        step_ms = self._client.parse_timeframe(interval) * 1000
        now_ms = await self._call(self._client.fetch_time(), "fetching the time")
        stop_ms = min(_ms(end) if end is not None else now_ms, now_ms - step_ms + 1)  # closed bars only
        since, out = _ms(start), list[VenueBar]()
        while since < stop_ms:
            rows = await self._call(
                self._client.fetch_ohlcv(symbol, interval, since, KLINES_PAGE), f"fetching {interval} bars of {symbol}"
            )
            fresh = [r for r in rows if since <= r[0] < stop_ms]
            out.extend(VenueBar(_dt(r[0]), r[1], r[2], r[3], r[4], r[5] or 0.0) for r in fresh)
            if not rows or rows[-1][0] < since:
                break
            since = int(rows[-1][0]) + step_ms
        return out

    async def close(self) -> None:
        await self._client.close()

    # ---- helpers ------------------------------------------------------------------------

    async def _call(self, awaitable: Awaitable[T], what: str) -> T:
        try:
            return await awaitable
        except ccxt.BaseError as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: ccxt.BaseError, what: str) -> VenueError:
        return translate(exc, self.name, what, self._secrets)

    async def _market(self, symbol: str) -> dict[str, Any]:
        markets = await self._call(self._client.load_markets(), "loading markets")
        market = markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"{self.name} lists no market {symbol!r} (symbols look like BTC/USDT)")
        return dict(market)

    def _step(self, precision: float | None) -> float:
        """A step size from ccxt's precision, whichever way this exchange counts it."""
        if precision is None:
            return 0.0
        if self._client.precisionMode == ccxt.TICK_SIZE:
            return float(precision)
        if self._client.precisionMode == ccxt.DECIMAL_PLACES:
            return float(10 ** -int(precision))
        return 0.0  # significant digits: no fixed step

    def _positions_from(self, balance: dict[str, Any]) -> dict[str, Position]:
        totals: dict[str, Any] = balance.get("total") or {}
        symbols = self.symbols or [
            s for s, m in (self._client.markets or {}).items() if m.get("spot") and m.get("quote") == self.quote
        ]
        positions = {}
        for symbol in symbols:
            base = symbol.split("/", 1)[0]
            quantity = float(totals.get(base) or 0.0)
            if quantity != 0.0:
                positions[symbol] = Position(symbol=symbol, quantity=quantity, average_entry_price=0.0)
        return positions


def _point_at(client: ccxt.Exchange, base_url: str) -> None:
    """Replace the spot host in every API base (``https://api.binance.com/api/v3`` → ``{base}/api/v3``)."""
    api = client.urls["api"]
    spot_host = urlsplit(api["public"])
    origin = f"{spot_host.scheme}://{spot_host.netloc}"
    base = base_url.rstrip("/")
    client.urls["api"] = {
        key: (f"{base}{url[len(origin) :]}" if isinstance(url, str) and url.startswith(origin) else url)
        for key, url in api.items()
    }


def _to_order(raw: dict[str, Any], sent: OrderRequest | None = None) -> VenueOrder:
    filled = float(raw.get("filled") or 0.0)
    status = _status(raw.get("status"), filled)
    return VenueOrder(
        client_order_id=str(raw.get("clientOrderId") or (sent.client_order_id if sent else "")),
        venue_order_id=str(raw["id"]),
        symbol=str(raw.get("symbol") or (sent.symbol if sent else "")),
        side=raw.get("side") or (sent.side if sent else "buy"),
        quantity=float(raw.get("amount") or (sent.quantity if sent else 0.0)),
        filled_quantity=filled,
        average_price=float(raw["average"]) if raw.get("average") else None,
        status=status,
        submitted_at=raw.get("datetime"),
    )


def _status(status: str | None, filled: float) -> OrderStatus:
    if status == "closed":
        return "filled"
    if status in ("canceled", "cancelled"):
        return "canceled"
    if status in ("rejected", "expired"):
        return "rejected" if status == "rejected" else "expired"
    return "partially_filled" if filled > 0 else "new"


def _ms(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def _dt(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)
