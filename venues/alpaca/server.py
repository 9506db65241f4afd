"""``AlpacaEmulator``: the simulated market and account behind Alpaca's wire protocol, on one port.

It runs uvicorn (Starlette app) in a background thread, so tests and ``hmmtrade up`` start
it in-process; a ticker on the server's loop fills orders as the sim clock moves. With a
``data_dir`` the account, orders, positions, used client order ids and the sim clock are
kept in ``alpaca-emulator.json`` plus a log of changes (``venues.alpaca.persistence``) and read
back on start: a restarted emulator continues where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from venues.alpaca.broker import Broker
from venues.alpaca.faults import Faults
from venues.alpaca.persistence import StateFiles
from venues.alpaca.rest import routes
from venues.alpaca.wire import Assets, Json
from venues.market import Market
from venues.schedule import xnys_schedule
from venues.simclock import SimClock

STATE_FILE = "alpaca-emulator.json"
TICK_S = 0.05


def last_session_open(now: datetime | None = None) -> datetime:
    """The most recent XNYS session open at or before ``now`` (the default sim start)."""
    moment = now or datetime.now(UTC)
    schedule = xnys_schedule(moment.date())
    return datetime.fromtimestamp(schedule.open_of(schedule.index_at(moment.timestamp())), UTC)


class AlpacaEmulator:
    """``AlpacaEmulator(key_id=…, secret_key=…).start()``; ``.url``; ``.advance(s)``; ``.stop()``."""

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        source: str = "synthetic",
        speed: float = 1.0,
        start: datetime | None = None,
        seed: int = 7,
        cash: float = 100_000.0,
        page_size: int = 10_000,
        symbols: list[str] | None = None,
    ) -> None:
        self.key_id, self.secret_key = key_id, secret_key
        self.page_size = page_size
        self.faults = Faults()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every REST call
        self._state_file = data_dir / STATE_FILE if data_dir is not None else None
        self._files = StateFiles(self._state_file) if self._state_file is not None else None
        self._touched: set[str] = set()  # orders changed since the last logged change
        saved = self._files.load() if self._files is not None else None
        if saved is not None:
            if (saved["source"], saved["seed"]) != (source, seed):
                raise ValueError(
                    f"{self._state_file} was made with --source {saved['source']} --seed {saved['seed']}: "
                    "pass the same, or use a new --data-dir"
                )
            self.clock = SimClock.from_json({**saved["clock"], "speed": speed})
        else:
            self.clock = SimClock(start or last_session_open(), speed)
        self.source, self.seed = source, seed
        self.market = Market(source, self.clock, seed=seed)
        self.assets = Assets(symbols)
        self.broker = Broker(self.market, self.assets, cash=cash, on_event=self._publish, on_change=self._log_change)
        if saved is not None:
            self.broker.restore(saved["broker"])
        self._logged_ids = set(self.broker.orders)
        if saved is None:
            self.persist()  # the base the change log is replayed over
        self._listeners: set[asyncio.Queue[Json]] = set()
        self._streams: dict[str, int] = {}
        self._streams_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket = socket.create_server((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        app = Starlette(routes=routes(), lifespan=self._lifespan)
        app.add_exception_handler(404, _not_found)
        app.add_exception_handler(405, _not_found)
        app.state.emulator = self
        config = uvicorn.Config(
            app, log_level="warning", ws="websockets-sansio", lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="alpaca-emulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, path: str) -> str:
        """The full websocket URL of a stream: ``/v2/iex``, ``/v2/sip``, ``/v1beta3/crypto/us``, ``/stream``."""
        return f"ws://{self.host}:{self.port}{path}"

    def start(self) -> AlpacaEmulator:
        self._thread.start()
        started = threading.Event()

        def ready() -> bool:
            return bool(self._server.started) or not self._thread.is_alive()

        while not ready():
            started.wait(0.01)
        if not self._server.started:
            raise RuntimeError("the Alpaca emulator did not start (see the log above)")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.persist()
        self._socket.close()

    def __enter__(self) -> AlpacaEmulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def advance(self, seconds: float) -> None:
        """Move the sim clock; fills catch up now, stream bars on their next poll."""
        self.clock.advance(seconds)
        self.broker.step()
        with self.broker.lock:
            self._log_change()  # the clock moved (and maybe fills): one log line, not a whole snapshot

    def keys_match(self, key_id: str, secret_key: str) -> bool:
        return secrets.compare_digest(key_id.encode(), self.key_id.encode()) and secrets.compare_digest(
            secret_key.encode(), self.secret_key.encode()
        )

    # ---- streams ----------------------------------------------------------------------

    def claim_stream(self, kind: str) -> bool:
        """One market-data connection per key and kind (stocks, crypto), as on the venue."""
        with self._streams_lock:
            if self._streams.get(kind, 0) >= 1:
                return False
            self._streams[kind] = 1
            return True

    def release_stream(self, kind: str) -> None:
        with self._streams_lock:
            self._streams[kind] = 0

    @property
    def trade_update_listeners(self) -> int:
        """How many ``trade_updates`` listeners are connected (tests wait for theirs)."""
        return len(self._listeners)

    def listen_trade_updates(self) -> asyncio.Queue[Json]:
        queue: asyncio.Queue[Json] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def unlisten_trade_updates(self, queue: asyncio.Queue[Json]) -> None:
        self._listeners.discard(queue)

    def _publish(self, event: Json) -> None:
        order = event.get("data", {}).get("order") if isinstance(event.get("data"), dict) else None
        if isinstance(order, dict) and "id" in order:
            self._touched.add(str(order["id"]))
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for queue in list(self._listeners):
            loop.call_soon_threadsafe(queue.put_nowait, event)

    # ---- state ------------------------------------------------------------------------

    def persist(self) -> None:
        """Write the whole state (on stop, and when the change log is folded in)."""
        if self._files is None:
            return
        state = {
            "source": self.source,
            "seed": self.seed,
            "clock": self.clock.to_json(),
            "broker": self.broker.snapshot(),
        }
        self._files.write_snapshot(state)
        self._touched.clear()
        self._logged_ids = set(self.broker.orders)

    def _log_change(self) -> None:
        """One line for the change just made (called by the broker under its lock)."""
        if self._files is None:
            return
        broker = self.broker
        new = [order_id for order_id in broker.orders if order_id not in self._logged_ids]
        changed = self._touched | set(new)
        change = {
            "orders": [broker.orders[order_id].to_state() for order_id in changed if order_id in broker.orders],
            "cash": broker.cash,
            "positions": {symbol: list(held) for symbol, held in broker.positions.items()},
            "clock": self.clock.to_json(),
        }
        self._logged_ids.update(new)
        self._touched.clear()
        if self._files.append(change):
            self.persist()

    # ---- server -----------------------------------------------------------------------

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(self._tick())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.broker.step()


async def _not_found(request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"code": 40410000, "message": f"endpoint not found: {request.url.path}"}, status_code=404)
