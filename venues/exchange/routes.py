"""The HTTP surface: Binance spot's REST subset under ``/api/v3`` and the test controls.

Public: ``GET ping``, ``time``, ``exchangeInfo``, ``klines``, ``ticker/24hr``, ``ticker/price``.
Signed (``X-MBX-APIKEY`` + HMAC ``signature``): ``GET account``, ``POST``/``GET``/``DELETE
order``, ``GET openOrders``. Every refusal is Binance's ``{"code","msg"}``.

Controls under ``/_emulator`` need ``X-MBX-APIKEY: <api key>`` **and** ``Authorization:
Bearer <api secret>``: loopback is no boundary for a browser (any page can POST here without
a CORS preflight, but not with custom headers), and a bearer keeps curl and tests simple.
``POST faults`` (see :mod:`venues.exchange.faults`), ``POST advance {"seconds"}``, ``POST
balances {"asset","free"}``, ``GET orders`` (every order ever, with fills).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from venues.exchange import wire
from venues.exchange.errors import BinanceError, bad_param
from venues.exchange.faults import FAULT_FIELDS
from venues.exchange.signing import verify
from venues.exchange.symbols import exchange_info

if TYPE_CHECKING:
    from venues.exchange.server import ExchangeEmulator

Handler = Callable[["ExchangeEmulator", dict[str, str]], Any]
GATEWAY_TIMEOUT_PAGE = "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>"
MAX_KLINES = 1000


def _api(handler: Handler, *, signed: bool) -> Callable[[Request], Awaitable[Response]]:
    """Wrap one endpoint: faults, parameters, signature, the matcher, persistence, errors."""

    async def endpoint(request: Request) -> Response:
        emulator: ExchangeEmulator = request.app.state.emulator
        emulator.requests.append((request.method, request.url.path))
        faults = emulator.faults
        if faults.stall_s > 0:
            await asyncio.sleep(faults.stall_s)
        if faults.take("http_429"):
            body = {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}
            return JSONResponse(body, status_code=429, headers={"Retry-After": "1"})
        query = request.url.query
        body_text = (await request.body()).decode()
        payload = f"{query}{body_text}" if query and body_text else query or body_text
        try:
            if signed:
                params = verify(
                    request.headers.get("X-MBX-APIKEY"),
                    payload,
                    api_key=emulator.api_key,
                    api_secret=emulator.api_secret,
                )
            else:
                params = dict(request.query_params)
            emulator.match()  # limits are checked on every request, not only by the loop
            result = handler(emulator, params)
        except BinanceError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        if request.method != "GET":
            emulator.persist()
            if request.method == "POST" and faults.take("accept_then_504"):
                return PlainTextResponse(GATEWAY_TIMEOUT_PAGE, status_code=504, media_type="text/html")
        return JSONResponse(result)

    return endpoint


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _time(emu: ExchangeEmulator, _p: dict[str, str]) -> Any:
    return {"serverTime": _ms(emu.clock.now())}


def _exchange_info(emu: ExchangeEmulator, _p: dict[str, str]) -> Any:
    return exchange_info(tuple(emu.book.symbols.values()), _ms(emu.clock.now()))


def _klines(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    spec = emu.book.spec(p.get("symbol"))
    tf = wire.INTERVALS.get(p.get("interval", ""))
    if tf is None:
        raise BinanceError(400, -1120, "Invalid interval.")
    try:
        limit = min(int(p.get("limit", 500)), MAX_KLINES)
        start_ms = int(p["startTime"]) if p.get("startTime") else None
        end_ms = int(p["endTime"]) if p.get("endTime") else None
    except ValueError:
        raise bad_param("limit/startTime/endTime") from None
    now = emu.clock.now()
    end = min(now, _dt(end_ms) + timedelta(milliseconds=1)) if end_ms is not None else now
    if start_ms is not None:
        start = _dt(start_ms)
        end = min(end, start + tf * limit)
    else:
        start = end - tf * (limit + 1)
    bars = emu.market.bars(spec.symbol, tf, start, end)
    bars = bars[:limit] if start_ms is not None else bars[-limit:]
    return [wire.kline(spec, b, tf) for b in bars]


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ticker(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    """``ticker/24hr`` for one symbol or a JSON list (``symbols=["BTCUSDT",…]``), else all."""
    if p.get("symbol"):
        return _ticker_of(emu, p["symbol"])
    try:
        names = json.loads(p["symbols"]) if p.get("symbols") else list(emu.book.symbols)
    except json.JSONDecodeError:
        raise bad_param("symbols") from None
    return [_ticker_of(emu, name) for name in names]


def _ticker_of(emu: ExchangeEmulator, symbol: str) -> Any:
    spec = emu.book.spec(symbol)
    now = emu.clock.now()
    last = emu.book.market_price(spec)
    opened = Decimal(str(emu.market.price(spec.symbol, now - timedelta(days=1)))).quantize(spec.tick_size)
    return {
        "symbol": spec.symbol,
        "priceChange": wire.num(last - opened),
        "priceChangePercent": f"{(last - opened) / opened * 100:.3f}",
        "weightedAvgPrice": wire.num(last),
        "prevClosePrice": wire.num(opened),
        "lastPrice": wire.num(last),
        "lastQty": wire.num(0),
        "bidPrice": wire.num(last),
        "bidQty": wire.num(1),
        "askPrice": wire.num(last),
        "askQty": wire.num(1),
        "openPrice": wire.num(opened),
        "highPrice": wire.num(max(last, opened)),
        "lowPrice": wire.num(min(last, opened)),
        "volume": wire.num(0),
        "quoteVolume": wire.num(0),
        "openTime": _ms(now - timedelta(days=1)),
        "closeTime": _ms(now),
        "firstId": -1,
        "lastId": -1,
        "count": 0,
    }


def _price(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    names = [p["symbol"]] if p.get("symbol") else list(emu.book.symbols)
    rows = [{"symbol": n, "price": wire.num(emu.book.market_price(emu.book.spec(n)))} for n in names]
    return rows[0] if p.get("symbol") else rows


def _account(emu: ExchangeEmulator, _p: dict[str, str]) -> Any:
    with emu.book.lock:
        rows = wire.balances(emu.book.free, emu.book.locked)
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "updateTime": _ms(emu.clock.now()),
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
    }


def _new_order(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    order = emu.book.place(p)
    return wire.order_placed(order, p.get("newOrderRespType", "FULL" if order.type == "MARKET" else "RESULT"))


def _get_order(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    return wire.order_queried(emu.book.find(p))


def _cancel_order(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    return wire.order_canceled(emu.book.cancel(p), _ms(emu.clock.now()))


def _open_orders(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    return [wire.order_queried(o) for o in emu.book.open_orders(p.get("symbol"))]


def _my_trades(emu: ExchangeEmulator, p: dict[str, str]) -> Any:
    """``GET /api/v3/myTrades?symbol[&orderId]``: the fills with their commissions, oldest first."""
    return [wire.trade(order, fill) for order, fill in emu.book.trades(p)]


# ---- test controls ---------------------------------------------------------------------


def _control(handler: Callable[[ExchangeEmulator, dict[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        emulator: ExchangeEmulator = request.app.state.emulator
        key = request.headers.get("X-MBX-APIKEY", "")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not (hmac.compare_digest(key, emulator.api_key) and hmac.compare_digest(bearer, emulator.api_secret)):
            return JSONResponse({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, 401)
        try:
            body = await request.json() if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            result = handler(emulator, body)
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return JSONResponse({"code": -1102, "msg": f"Bad control request: {exc!r}"}, 400)
        emulator.persist()
        return JSONResponse(result)

    return endpoint


def _set_faults(emu: ExchangeEmulator, body: dict[str, Any]) -> Any:
    unknown = set(body) - set(FAULT_FIELDS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {list(FAULT_FIELDS)}")
    for name in ("http_429", "accept_then_504"):
        if name in body:
            setattr(emu.faults, name, int(body[name]))
    if "stall_s" in body:
        emu.faults.stall_s = float(body["stall_s"])
    if "partial_fills" in body:
        emu.book.partial_fills = int(body["partial_fills"])
    return {**emu.faults.public(), "partial_fills": emu.book.partial_fills}


def _advance(emu: ExchangeEmulator, body: dict[str, Any]) -> Any:
    emu.advance(float(body["seconds"]))
    return {"serverTime": _ms(emu.clock.now())}


def _set_balance(emu: ExchangeEmulator, body: dict[str, Any]) -> Any:
    emu.book.set_balance(str(body["asset"]), Decimal(str(body["free"])))
    with emu.book.lock:
        return {"balances": wire.balances(emu.book.free, emu.book.locked)}


def _all_orders(emu: ExchangeEmulator, _body: dict[str, Any]) -> Any:
    with emu.book.lock:
        orders = list(emu.book.orders.values())
    return {"orders": [wire.order_placed(o, "FULL") | {"updateTime": o.update_ms} for o in orders]}


ROUTES = [
    Route("/api/v3/ping", _api(lambda _e, _p: {}, signed=False)),
    Route("/api/v3/time", _api(_time, signed=False)),
    Route("/api/v3/exchangeInfo", _api(_exchange_info, signed=False)),
    Route("/api/v3/klines", _api(_klines, signed=False)),
    Route("/api/v3/ticker/24hr", _api(_ticker, signed=False)),
    Route("/api/v3/ticker/price", _api(_price, signed=False)),
    Route("/api/v3/account", _api(_account, signed=True)),
    Route("/api/v3/order", _api(_get_order, signed=True), methods=["GET"]),
    Route("/api/v3/order", _api(_new_order, signed=True), methods=["POST"]),
    Route("/api/v3/order", _api(_cancel_order, signed=True), methods=["DELETE"]),
    Route("/api/v3/openOrders", _api(_open_orders, signed=True)),
    Route("/api/v3/myTrades", _api(_my_trades, signed=True)),
    Route("/_emulator/faults", _control(_set_faults), methods=["POST"]),
    Route("/_emulator/advance", _control(_advance), methods=["POST"]),
    Route("/_emulator/balances", _control(_set_balance), methods=["POST"]),
    Route("/_emulator/orders", _control(_all_orders), methods=["GET"]),
]
