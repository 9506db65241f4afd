"""The emulator's HTTP routes: Alpaca's trading and market-data REST, and the test controls.

Every route checks ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` (401 ``40110000`` otherwise),
the controls under ``/_emulator/`` too: loopback is no boundary for a browser, and a page
cannot send those headers cross-origin without a preflight. One exception, as on the venue:
crypto bars answer requests that send no keys at all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from venues.alpaca import streams
from venues.alpaca.wire import UNAUTHORIZED, AlpacaError, Json, bar_json, new_york, parse_time, parse_timeframe

if TYPE_CHECKING:
    from venues.alpaca.server import AlpacaEmulator

Handler = Callable[["AlpacaEmulator", Request], Awaitable[Any]]
MAX_LIMIT = 10_000


def _route(path: str, handler: Handler, methods: list[str], *, trading: bool = False, keyless: bool = False) -> Route:
    async def endpoint(request: Request) -> Response:
        emulator: AlpacaEmulator = request.app.state.emulator
        status = 200
        try:
            key, secret = request.headers.get("APCA-API-KEY-ID"), request.headers.get("APCA-API-SECRET-KEY")
            if not (keyless and key is None and secret is None) and not emulator.keys_match(key or "", secret or ""):
                raise UNAUTHORIZED
            if trading and emulator.faults.take_429():
                raise AlpacaError(429, 42910000, "rate limit exceeded")
            body = await handler(emulator, request)
            if body is None:
                status = 204
                return Response(status_code=204)
            return JSONResponse(body)
        except AlpacaError as exc:
            status = exc.status
            return JSONResponse(exc.body(), status_code=exc.status)
        finally:
            emulator.requests.append((request.method, request.url.path, status))

    return Route(path, endpoint, methods=methods)


async def _json_body(request: Request) -> Json:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise AlpacaError(400, 40010000, "request body format is invalid") from None
    if not isinstance(body, dict):
        raise AlpacaError(400, 40010000, "request body format is invalid")
    return body


# ---- trading ----------------------------------------------------------------------------


async def account(emu: AlpacaEmulator, _request: Request) -> Json:
    return emu.broker.account()


async def submit_order(emu: AlpacaEmulator, request: Request) -> Json:
    order = emu.broker.submit(await _json_body(request), parts=emu.faults.partial_fills)
    if emu.faults.take_504():
        raise AlpacaError(504, 50400000, "gateway timeout")
    return order


async def list_orders(emu: AlpacaEmulator, request: Request) -> list[Json]:
    q = request.query_params
    status = q.get("status", "open")
    if status not in ("open", "closed", "all"):
        raise AlpacaError(422, 40010001, "status must be open, closed or all")
    try:
        limit = min(int(q.get("limit", "50")), 500)
    except ValueError:
        raise AlpacaError(422, 40010001, "limit must be an integer") from None
    symbols = {s.strip().upper() for s in q["symbols"].split(",")} if q.get("symbols") else None
    return emu.broker.list_orders(status, limit, symbols, newest_first=q.get("direction", "desc") == "desc")


async def cancel_all(emu: AlpacaEmulator, _request: Request) -> list[Json]:
    results = []
    for order in emu.broker.list_orders("open", 10_000, None, newest_first=False):
        emu.broker.cancel(order["id"])
        results.append({"id": order["id"], "status": 200, "body": emu.broker.order(order["id"])})
    return results


async def get_order(emu: AlpacaEmulator, request: Request) -> Json:
    return emu.broker.order(request.path_params["order_id"])


async def cancel_order(emu: AlpacaEmulator, request: Request) -> None:
    emu.broker.cancel(request.path_params["order_id"])


async def order_by_client_id(emu: AlpacaEmulator, request: Request) -> Json:
    return emu.broker.order_by_client_id(request.query_params.get("client_order_id", ""))


async def positions(emu: AlpacaEmulator, _request: Request) -> list[Json]:
    return emu.broker.position_list()


async def position(emu: AlpacaEmulator, request: Request) -> Json:
    return emu.broker.position(request.path_params["symbol"])


async def clock(emu: AlpacaEmulator, _request: Request) -> Json:
    now = emu.clock.now()
    return {
        "timestamp": new_york(now),
        "is_open": emu.market.is_open("SPY", now),
        "next_open": new_york(emu.market.next_open("SPY", now)),
        "next_close": new_york(emu.market.next_close("SPY", now)),
    }


async def calendar(emu: AlpacaEmulator, request: Request) -> list[Json]:
    today = emu.clock.now().date()
    q = request.query_params
    try:
        start = date.fromisoformat(q["start"][:10]) if q.get("start") else today - timedelta(days=365)
        end = date.fromisoformat(q["end"][:10]) if q.get("end") else today + timedelta(days=365)
    except ValueError:
        raise AlpacaError(422, 40010001, "start and end must be dates (YYYY-MM-DD)") from None
    return [
        {
            "date": day.isoformat(),
            "open": new_york(opens)[11:16],
            "close": new_york(closes)[11:16],
            "session_open": "0400",
            "session_close": "2000",
            "settlement_date": day.isoformat(),
        }
        for day, opens, closes in emu.market.sessions("SPY", start, end)
    ]


async def assets(emu: AlpacaEmulator, request: Request) -> list[Json]:
    wanted = request.query_params.get("asset_class")
    return [
        a.to_json()
        for a in emu.assets.all()
        if wanted is None or (wanted == "crypto") == a.crypto
    ]  # fmt: skip


async def asset(emu: AlpacaEmulator, request: Request) -> Json:
    found = emu.assets.find(request.path_params["symbol"])
    if found is None:
        raise AlpacaError(404, 40410000, f"asset not found for {request.path_params['symbol']}")
    return found.to_json()


# ---- market data ------------------------------------------------------------------------


async def bars(emu: AlpacaEmulator, request: Request) -> Json:
    q = request.query_params
    symbols = sorted({s.strip() for raw in q.getlist("symbols") for s in raw.split(",") if s.strip()})
    if not symbols:
        raise AlpacaError(400, 40010001, "symbols is required")
    timeframe = parse_timeframe(q.get("timeframe", ""))
    now = emu.clock.now()
    try:
        start = parse_time(q["start"]) if q.get("start") else now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = parse_time(q["end"]) if q.get("end") else None
        limit = min(int(q.get("limit") or 1000), MAX_LIMIT)
    except ValueError as exc:
        raise AlpacaError(400, 40010001, f"invalid query parameter: {exc}") from None
    page = max(min(limit, emu.page_size), 1)
    after = _decode_token(q.get("page_token"))
    out: dict[str, list[Json]] = {}
    taken = 0
    for symbol in symbols:
        if after is not None and symbol < after[0]:
            continue
        for bar in emu.market.bars(symbol, timeframe, start, end):
            if after is not None and (symbol, bar.start.timestamp()) <= after:
                continue
            if taken == page:
                last = out[max(out)][-1]
                token = _encode_token(max(out), parse_time(last["t"]).timestamp())
                return {"bars": out, "next_page_token": token}
            out.setdefault(symbol, []).append(bar_json(bar))
            taken += 1
    return {"bars": out, "next_page_token": None}


def _encode_token(symbol: str, ts: float) -> str:
    return base64.urlsafe_b64encode(json.dumps([symbol, ts]).encode()).decode()


def _decode_token(token: str | None) -> tuple[str, float] | None:
    if not token:
        return None
    try:
        symbol, ts = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(symbol), float(ts)
    except (ValueError, TypeError):
        raise AlpacaError(400, 40010001, "invalid page_token") from None


# ---- test controls ----------------------------------------------------------------------


async def set_faults(emu: AlpacaEmulator, request: Request) -> Json:
    return emu.faults.update(await _json_body(request))


async def advance(emu: AlpacaEmulator, request: Request) -> Json:
    body = await _json_body(request)
    try:
        seconds = float(body["seconds"])
    except (KeyError, TypeError, ValueError):
        raise AlpacaError(422, 40010001, 'body must be {"seconds": S}') from None
    if seconds < 0:
        raise AlpacaError(422, 40010001, "the sim clock only moves forward")
    emu.advance(seconds)
    return {"now": emu.clock.now().astimezone(UTC).isoformat()}


async def set_position(emu: AlpacaEmulator, request: Request) -> Json:
    body = await _json_body(request)
    try:
        emu.broker.set_position(str(body["symbol"]), float(body["qty"]), float(body.get("avg_entry_price") or 0.0))
    except (KeyError, TypeError, ValueError):
        raise AlpacaError(422, 40010001, 'body must be {"symbol", "qty", "avg_entry_price"}') from None
    return {"positions": emu.broker.position_list()}


async def all_orders(emu: AlpacaEmulator, _request: Request) -> Json:
    return {"orders": emu.broker.all_orders()}


async def requests_seen(emu: AlpacaEmulator, _request: Request) -> Json:
    return {"requests": [{"method": m, "path": p, "status": s} for m, p, s in emu.requests]}


async def emulator_state(emu: AlpacaEmulator, _request: Request) -> Json:
    return {"now": emu.clock.now().isoformat(), "speed": emu.clock.speed, "faults": emu.faults.to_json()}


def _ws(path: str, kind: str | None) -> WebSocketRoute:
    async def endpoint(ws: WebSocket) -> None:
        emulator: AlpacaEmulator = ws.app.state.emulator
        if kind is None:
            await streams.trade_updates(ws, emulator)
        else:
            await streams.market_data(ws, emulator, kind)

    return WebSocketRoute(path, endpoint)


def routes() -> list[Route | WebSocketRoute]:
    return [
        _route("/v2/account", account, ["GET"], trading=True),
        _route("/v2/orders", submit_order, ["POST"], trading=True),
        _route("/v2/orders", list_orders, ["GET"], trading=True),
        _route("/v2/orders", cancel_all, ["DELETE"], trading=True),
        _route("/v2/orders:by_client_order_id", order_by_client_id, ["GET"], trading=True),
        _route("/v2/orders/{order_id}", get_order, ["GET"], trading=True),
        _route("/v2/orders/{order_id}", cancel_order, ["DELETE"], trading=True),
        _route("/v2/positions", positions, ["GET"], trading=True),
        _route("/v2/positions/{symbol:path}", position, ["GET"], trading=True),
        _route("/v2/clock", clock, ["GET"], trading=True),
        _route("/v2/calendar", calendar, ["GET"], trading=True),
        _route("/v2/assets", assets, ["GET"], trading=True),
        _route("/v2/assets/{symbol:path}", asset, ["GET"], trading=True),
        _route("/v2/stocks/bars", bars, ["GET"]),
        _route("/v1beta3/crypto/us/bars", bars, ["GET"], keyless=True),
        _route("/_emulator/faults", set_faults, ["POST"]),
        _route("/_emulator/advance", advance, ["POST"]),
        _route("/_emulator/positions", set_position, ["POST"]),
        _route("/_emulator/orders", all_orders, ["GET"]),
        _route("/_emulator/requests", requests_seen, ["GET"]),
        _route("/_emulator/state", emulator_state, ["GET"]),
        _ws("/v2/iex", "stocks"),
        _ws("/v2/sip", "stocks"),
        _ws("/v1beta3/crypto/us", "crypto"),
        _ws("/stream", None),
    ]
