"""uvicorn with a drain in front of its graceful shutdown, for rolling restarts.

On the first SIGTERM (or SIGINT) the replica stops being ready at once (``api.drain``) but keeps
accepting and serving for ``drain_delay_s``, the time a load balancer needs to see ``/readyz``
fail and stop sending new requests here. Then uvicorn's own graceful shutdown runs: it closes the
listening socket, closes idle connections, lets requests in flight finish (up to
``timeout_graceful_shutdown``) and runs the lifespan's shutdown, which closes the bus and the
database pool. A second signal skips what is left of the delay.

A drained shutdown is a clean exit: status 0. (Plain uvicorn re-raises the signal once it has
shut down, so the process would report death by SIGTERM after doing everything right.)
"""

from __future__ import annotations

import time
from types import FrameType

import structlog
import uvicorn

from api.drain import Drain

log = structlog.get_logger(__name__)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain, *, drain_delay_s: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_delay_s = drain_delay_s
        self._stop_accepting_at: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs in the signal handler (main thread): only set flags; on_tick acts on them.
        if self._stop_accepting_at is None:
            self.drain.begin()
            self._stop_accepting_at = time.monotonic() + self.drain_delay_s
        elif self.should_exit:
            self.force_exit = True  # a third signal: stop waiting for requests in flight
        else:
            self.should_exit = True  # a second signal: skip the rest of the delay

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self._stop_accepting_at is not None and not self._drain_logged:
            self._drain_logged = True
            log.info("api.drain_started", detail="/readyz answers 503; still serving", delay_s=self.drain_delay_s)
        if self._stop_accepting_at is not None and time.monotonic() >= self._stop_accepting_at:
            log.info("api.draining", detail="no longer accepting connections; finishing requests in flight")
            return True
        return False
