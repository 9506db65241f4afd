"""Backpressure: how many bot intents wait for the lifecycle worker, and whether to take more.

The API answers 202 once JetStream has stored an intent; if the workers are behind, that
intent is carried out whenever they catch up. Past a bound (``HMMTRADE_INTENT_BACKLOG_MAX``)
the API refuses new bot intents with a 503 and a ``Retry-After`` instead of accepting work
it would only do much later. The backlog is the lifecycle consumer's unprocessed messages
(``num_pending``) plus those delivered and not yet acknowledged (``num_ack_pending``: in a
worker's hands, or waiting for a retry), read from JetStream's consumer info.

One read serves every request for ``refresh_s`` (concurrent requests share it), so the
bound is soft by at most the requests accepted within one refresh. A failed read lets
requests through: the bus refuses them itself if it is really away, and a slow metrics call
must not stop trading. ``Retry-After`` is the backlog over the drain rate observed between
reads, 1-30 s.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import structlog

from events.bus import Bus
from events.topology import LIFECYCLE, ConsumerSpec

log = structlog.get_logger(__name__)

RETRY_AFTER_MIN_S = 1
RETRY_AFTER_MAX_S = 30


@dataclass(frozen=True)
class Backlog:
    waiting: int  # stored, not yet delivered to a worker
    in_hand: int  # delivered, not yet acknowledged
    limit: int
    drain_per_s: float | None  # acknowledged per second between the last two reads; None until known

    @property
    def total(self) -> int:
        return self.waiting + self.in_hand

    @property
    def over_limit(self) -> bool:
        return self.total > self.limit

    def retry_after_s(self) -> int:
        if not self.drain_per_s:
            return 2
        excess = self.total - self.limit / 2  # back under half the bound leaves room for the retries
        return max(RETRY_AFTER_MIN_S, min(RETRY_AFTER_MAX_S, math.ceil(excess / self.drain_per_s)))


class IntentBacklog:
    def __init__(self, bus: Bus, *, limit: int, refresh_s: float = 0.25, consumer: ConsumerSpec = LIFECYCLE) -> None:
        self._bus = bus
        self._limit = limit
        self._refresh_s = refresh_s
        self._consumer = consumer
        self._last: Backlog | None = None
        self._read_at = -math.inf
        self._acked: tuple[float, int] | None = None  # (monotonic time, ack floor's consumer sequence)
        self._reading: asyncio.Task[Backlog | None] | None = None

    @property
    def limit(self) -> int:
        return self._limit

    async def current(self) -> Backlog | None:
        """The latest backlog (at most ``refresh_s`` old); ``None`` if it cannot be read."""
        if time.monotonic() - self._read_at < self._refresh_s:
            return self._last
        if self._reading is None:  # one read in flight, shared by every waiting request
            self._reading = asyncio.create_task(self._read())
        reading = self._reading
        try:
            return await asyncio.shield(reading)
        finally:
            if reading.done() and self._reading is reading:
                self._reading = None

    async def _read(self) -> Backlog | None:
        if not self._bus.is_connected:  # the publish will answer for the bus
            self._last, self._read_at = None, time.monotonic()
            return None
        try:
            info = await self._bus.js.consumer_info(self._consumer.stream, self._consumer.durable, timeout=1.0)
        except Exception as exc:  # noqa: BLE001 - unknown backlog: let requests through (see module doc)
            log.warning("intent_backlog.unreadable", error=f"{type(exc).__name__}: {exc}")
            self._last, self._read_at = None, time.monotonic()
            return None
        now = time.monotonic()
        acked = info.ack_floor.consumer_seq if info.ack_floor and info.ack_floor.consumer_seq else 0
        drain = None
        if self._acked is not None and now > self._acked[0] and acked >= self._acked[1]:
            drain = (acked - self._acked[1]) / (now - self._acked[0])
        if self._acked is None or now - self._acked[0] >= 1.0:  # a rate over at least a second
            self._acked = (now, acked)
        previous = self._last.drain_per_s if self._last else None
        self._last = Backlog(
            waiting=info.num_pending or 0,
            in_hand=info.num_ack_pending or 0,
            limit=self._limit,
            drain_per_s=drain if drain else previous,
        )
        self._read_at = now
        return self._last
