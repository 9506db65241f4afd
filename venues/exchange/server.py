"""``ExchangeEmulator``: a Binance-spot-compatible exchange on loopback, for tests and ``hmmtrade up``.

It owns the simulated clock and market (:mod:`venues.market`, shared with the Alpaca
emulator), the account (:class:`~venues.exchange.book.Book`), the fault switches, and a
uvicorn server in its own thread. With ``data_dir`` the whole state (clock, balances,
every order and used client id) is written atomically after each change and read back on
start, so a restarted emulator still refuses an old client order id: restart is the same
path as a first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from venues.exchange.book import Book
from venues.exchange.faults import Faults
from venues.exchange.routes import ROUTES
from venues.exchange.symbols import DEFAULT_SYMBOLS, SymbolSpec
from venues.market import Market, SimClock

STATE_FILE = "exchange-emulator.json"
START_TIMEOUT_S = 10.0


class ExchangeEmulator:
    """Start with :meth:`start`, talk to :attr:`url`, :meth:`stop` when done (``port=0``: a free port)."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        source: str = "synthetic",
        speed: float = 1.0,
        start: datetime | None = None,
        seed: int = 7,
        balance: float = 100_000,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        fee_rate: float = 0.001,
        match_interval_s: float = 0.2,
    ) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self._state_file = data_dir / STATE_FILE if data_dir is not None else None
        saved = json.loads(self._state_file.read_text()) if self._state_file and self._state_file.exists() else None
        self.clock = SimClock.from_json(saved["clock"]) if saved else SimClock(start or datetime.now(UTC), speed=speed)
        self.market = Market(source, self.clock, seed=seed)
        self.book = Book(
            symbols,
            price=lambda spec: self.market.price(spec.symbol),
            now_ms=lambda: int(self.clock.now().timestamp() * 1000),
            balances={"USDT": Decimal(str(balance))},
            fee_rate=Decimal(str(fee_rate)),
        )
        if saved:
            self.book.restore(saved["book"])
        self.faults = Faults()
        # (method, path) of the latest /api requests, for tests; bounded for long-running emulators
        self.requests: deque[tuple[str, str]] = deque(maxlen=10_000)
        self._persist_lock = threading.Lock()
        self._match_interval_s = match_interval_s
        app = Starlette(routes=ROUTES, lifespan=self._lifespan, exception_handlers={HTTPException: _http_error})
        app.state.emulator = self
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, name="exchange-emulator", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> ExchangeEmulator:
        self.persist()  # records the clock's origin: prices after a restart are the same prices
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the exchange emulator did not start (is the port free?)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)

    # ---- state ------------------------------------------------------------------------

    def match(self) -> None:
        """Fill the limit orders the market now crosses (and persist when any did)."""
        if self.book.match():
            self.persist()

    def advance(self, seconds: float) -> None:
        """Move the sim clock, let held partial fills complete, and match."""
        self.clock.advance(seconds)
        self.book.release_holds()
        self.book.match()
        self.persist()

    def persist(self) -> None:
        """Write the state file atomically (tmp + ``os.replace``): a crash leaves the old or the new."""
        if self._state_file is None:
            return
        with self._persist_lock:
            data: dict[str, Any] = {"clock": self.clock.to_json(), "book": self.book.snapshot()}
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._state_file)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self._match_loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _match_loop(self) -> None:
        while True:
            await asyncio.sleep(self._match_interval_s)
            self.match()


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Binance's error shape too."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"code": -1000 if status >= 500 else -1, "msg": str(getattr(exc, "detail", exc))}, status)
