"""The emulator's websockets: market data (msgpack, like Alpaca's) and ``trade_updates`` (JSON).

Market data: ``[{"T":"success","msg":"connected"}]`` → client ``{"action":"auth","key","secret"}``
→ ``authenticated`` (or ``402 auth failed``, or ``406 connection limit exceeded`` when this key
already holds a stream of that kind) → ``{"action":"subscribe","bars":[…]}`` → a
``subscription`` echo, then every minute bar as it closes on the sim clock, ``t`` a msgpack
Timestamp. Only bars closing after the subscription are sent (no history replay).

Trading: ``{"action":"authenticate","data":{"key_id","secret_key"}}`` → ``authorization``
with ``status`` ``authorized``/``unauthorized`` → ``{"action":"listen",…}`` → ``listening``,
then each order event. Events are not replayed after a reconnect, as on the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgpack
from starlette.websockets import WebSocket, WebSocketDisconnect

from venues.alpaca.wire import Json

if TYPE_CHECKING:
    from venues.alpaca.server import AlpacaEmulator

POLL_S = 0.05
AUTH_TIMEOUT_S = 10.0
_MINUTE = timedelta(minutes=1)
_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "orderbooks")


async def _send_packed(ws: WebSocket, messages: list[Json]) -> None:
    await ws.send_bytes(msgpack.packb(messages))


async def _receive(ws: WebSocket) -> Any:
    """One client message, msgpack or JSON, text or binary frame."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("bytes") or (message.get("text") or "").encode()
    try:
        return msgpack.unpackb(raw)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError):
        return json.loads(raw)


class _Connection:
    """Shared per-connection bookkeeping for the stream faults."""

    def __init__(self, emulator: AlpacaEmulator) -> None:
        self.emulator = emulator
        self.drop_generation = emulator.faults.drop_generation

    def should_drop(self) -> bool:
        if self.drop_generation < self.emulator.faults.drop_generation:
            self.drop_generation = self.emulator.faults.drop_generation
            return True
        return False


async def market_data(ws: WebSocket, emulator: AlpacaEmulator, kind: str) -> None:
    await ws.accept()
    conn = _Connection(emulator)
    claimed = False
    try:
        await _send_packed(ws, [{"T": "success", "msg": "connected"}])
        auth = await asyncio.wait_for(_receive(ws), AUTH_TIMEOUT_S)
        if not isinstance(auth, dict) or auth.get("action") != "auth":
            await _send_packed(ws, [{"T": "error", "code": 401, "msg": "not authenticated"}])
            return
        if not emulator.keys_match(str(auth.get("key", "")), str(auth.get("secret", ""))):
            await _send_packed(ws, [{"T": "error", "code": 402, "msg": "auth failed"}])
            return
        if not emulator.claim_stream(kind):
            await _send_packed(ws, [{"T": "error", "code": 406, "msg": "connection limit exceeded"}])
            return
        claimed = True
        await _send_packed(ws, [{"T": "success", "msg": "authenticated"}])
        cursors: dict[str, datetime] = {}
        reader = asyncio.create_task(_read_subscriptions(ws, emulator, kind, cursors))
        try:
            await _push_bars(ws, emulator, conn, cursors, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
    except (WebSocketDisconnect, TimeoutError, RuntimeError):
        pass  # the client went away (or never authenticated): nothing to clean up but the claim
    finally:
        if claimed:
            emulator.release_stream(kind)
        with contextlib.suppress(RuntimeError):
            await ws.close()


async def _read_subscriptions(ws: WebSocket, emulator: AlpacaEmulator, kind: str, cursors: dict[str, datetime]) -> None:
    subscribed: dict[str, set[str]] = {channel: set() for channel in _CHANNELS}
    while True:
        message = await _receive(ws)
        if not isinstance(message, dict):
            continue
        action = message.get("action")
        if action not in ("subscribe", "unsubscribe"):
            await _send_packed(ws, [{"T": "error", "code": 400, "msg": "invalid syntax"}])
            continue
        for channel in _CHANNELS:
            for symbol in message.get(channel) or []:
                if action == "subscribe":
                    subscribed[channel].add(symbol)
                else:
                    subscribed[channel].discard(symbol)
        now = emulator.clock.now()
        in_progress = now.replace(second=0, microsecond=0)
        for symbol in list(cursors):
            if symbol not in subscribed["bars"]:
                del cursors[symbol]
        for symbol in subscribed["bars"]:
            cursors.setdefault(symbol, in_progress)
        echo: Json = {"T": "subscription"}
        shown: tuple[str, ...] = ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars")
        if kind == "stocks":
            shown = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
        echo.update({channel: sorted(subscribed[channel]) for channel in shown})
        await _send_packed(ws, [echo])


async def _push_bars(
    ws: WebSocket, emulator: AlpacaEmulator, conn: _Connection, cursors: dict[str, datetime], reader: asyncio.Task[None]
) -> None:
    while not reader.done():
        await asyncio.sleep(POLL_S)
        if emulator.faults.stalled():
            continue
        messages: list[Json] = []
        for symbol, cursor in list(cursors.items()):
            bars = emulator.market.bars(symbol, _MINUTE, cursor)
            if bars:
                cursors[symbol] = bars[-1].start + _MINUTE
            for bar in bars:
                messages.append(
                    {
                        "T": "b",
                        "S": symbol,
                        "o": bar.open,
                        "h": bar.high,
                        "l": bar.low,
                        "c": bar.close,
                        "v": bar.volume,
                        "n": max(1, int(bar.volume // 100)),
                        "vw": (bar.high + bar.low + bar.close) / 3,
                        "t": msgpack.Timestamp.from_unix(bar.start.astimezone(UTC).timestamp()),
                    }
                )
        if not messages:
            continue
        for copy in range(2 if emulator.faults.stream_duplicate else 1):
            del copy
            await _send_packed(ws, messages)
        if conn.should_drop():
            return


async def trade_updates(ws: WebSocket, emulator: AlpacaEmulator) -> None:
    await ws.accept()
    conn = _Connection(emulator)
    queue: asyncio.Queue[Json] | None = None
    try:
        auth = await asyncio.wait_for(_receive(ws), AUTH_TIMEOUT_S)
        data = auth.get("data") if isinstance(auth, dict) else None
        ok = (
            isinstance(data, dict)
            and auth.get("action") in ("authenticate", "auth")
            and emulator.keys_match(str(data.get("key_id", "")), str(data.get("secret_key", "")))
        )
        reply = {"action": "authenticate", "status": "authorized" if ok else "unauthorized"}
        await ws.send_text(json.dumps({"stream": "authorization", "data": reply}))
        if not ok:
            return
        while True:
            message = await _receive(ws)
            if isinstance(message, dict) and message.get("action") == "listen":
                streams = list((message.get("data") or {}).get("streams") or [])
                await ws.send_text(json.dumps({"stream": "listening", "data": {"streams": streams}}))
                if "trade_updates" in streams:
                    break
        queue = emulator.listen_trade_updates()
        reader = asyncio.create_task(_drain(ws))
        try:
            while not reader.done():
                try:
                    event = await asyncio.wait_for(queue.get(), POLL_S * 4)
                except TimeoutError:
                    continue
                await _wait_out_stall(emulator)
                await ws.send_text(json.dumps(event))
                if conn.should_drop():
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
    except (WebSocketDisconnect, TimeoutError, RuntimeError):
        pass
    finally:
        if queue is not None:
            emulator.unlisten_trade_updates(queue)
        with contextlib.suppress(RuntimeError):
            await ws.close()


async def _wait_out_stall(emulator: AlpacaEmulator) -> None:
    """Hold the next message while the stall fault lasts (it is a deadline, not an event)."""
    remaining = emulator.faults.stream_stall_until - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) whatever the client sends, so a disconnect is noticed."""
    while True:
        await _receive(ws)
