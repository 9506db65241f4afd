"""The service's health as the public status page shows it: one cheap probe per component.

``GET /api/v1/status`` is public, so it must not become a way to make us hammer our vendors:
the report is cached ``ttl_s`` seconds per replica and built by one caller at a time (others
wait for that report), and each probe is the cheapest read each vendor has, bounded by
``timeout_s``, all run in parallel. A probe answers in plain words and never passes a vendor's
message through (it could hold a URL or an id); failures are named by kind.

``degraded`` means the component answered, but slower than ``slow_s`` (or, for KMS, its key
cannot encrypt); ``down`` means no usable answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.api import ComponentStatus, ServiceStatus, StatusComponent, StatusReport

CORE: tuple[StatusComponent, ...] = ("api", "bus", "database")  # without these nothing can be changed


@dataclass(frozen=True)
class Verdict:
    """What a probe found; a probe that raises ``ProbeFailed`` (or times out) is ``down``."""

    detail: str
    status: ServiceStatus = "ok"


class ProbeFailed(Exception):
    """The component did not give a usable answer; the message is shown to the public as is."""


Probe = Callable[[], Awaitable[Verdict]]


class StatusBoard:
    def __init__(
        self,
        probes: Mapping[StatusComponent, Probe],
        *,
        timeout_s: float = 2.0,
        slow_s: float = 1.0,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = dict(probes)
        self._timeout_s = timeout_s
        self._slow_s = slow_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: tuple[float, StatusReport] | None = None
        self._lock = asyncio.Lock()

    async def report(self) -> StatusReport:
        """The last report if younger than ``ttl_s``; else a new one (one caller builds it)."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()  # built while this caller waited
            if fresh is not None:
                return fresh
            report = await self._check_all()
            self._cached = (self._clock(), report)
            return report

    def _fresh(self) -> StatusReport | None:
        if self._cached is None or self._clock() - self._cached[0] >= self._ttl_s:
            return None
        return self._cached[1]

    async def _check_all(self) -> StatusReport:
        names = sorted(self._probes)
        components = await asyncio.gather(*(self._check(name, self._probes[name]) for name in names))
        statuses = {c.component: c.status for c in components}
        overall: ServiceStatus = "ok"
        if any(statuses.get(name) == "down" for name in CORE):
            overall = "down"
        elif any(s != "ok" for s in statuses.values()):
            overall = "degraded"
        return StatusReport(status=overall, checked_at=datetime.now(UTC), components=list(components))

    async def _check(self, name: StatusComponent, probe: Probe) -> ComponentStatus:
        started = self._clock()
        try:
            verdict = await self._bounded(probe)
        except ProbeFailed as exc:
            verdict = Verdict(str(exc), "down")
        except Exception as exc:  # noqa: BLE001 - a probe's bug must not take the status page down
            verdict = Verdict(f"the check failed ({type(exc).__name__})", "down")
        elapsed = self._clock() - started
        if verdict.status == "ok" and elapsed > self._slow_s:
            verdict = Verdict(f"{verdict.detail}, but slowly ({elapsed:.1f} s)", "degraded")
        return ComponentStatus(
            component=name, status=verdict.status, checked_at=datetime.now(UTC), detail=verdict.detail
        )

    async def _bounded(self, probe: Probe) -> Verdict:
        """The probe's verdict, or "no answer" after ``timeout_s`` however long the probe takes to give up.

        ``asyncio.wait_for`` waits for a timed-out probe to finish cancelling, and a client stuck
        mid-reconnect (the bus going away) can take longer than the caller's own timeout: the whole
        status page then looked like a dead API. The probe is cancelled and left to end by itself.
        """
        task = asyncio.ensure_future(probe())
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        if task in done:
            return task.result()
        task.cancel()
        task.add_done_callback(_discard_outcome)
        return Verdict(f"no answer within {self._timeout_s:g} s", "down")


def _discard_outcome(task: asyncio.Future[Verdict]) -> None:
    """A probe abandoned after its timeout: its late result or error is not anyone's concern."""
    if not task.cancelled():
        task.exception()
