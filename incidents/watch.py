"""The incident watch: opens an incident when a dependency has failed past a threshold, and
closes it once the dependency has been healthy as long.

Every ``every_s`` it probes each component (``api.status.StatusBoard`` over the workers' own
probes) and reads how this process's real calls to each vendor went since the last look
(``metrics.vendor_tally``). A component is failing when its probe says ``down``, or when every
real call failed with an outage-kind error. Failing for ``open_after_s`` opens an incident that
starts at the first failure seen; healthy for ``close_after_s`` closes the watch's own incident,
ending at the first healthy look. Incidents an operator opened are left for the operator to close.

It runs on one worker replica at a time (a lease); a successor starts with no memory and takes
the open incidents from Postgres, so a handover costs at most one threshold of delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from api.status import Probe, StatusBoard
from contracts.envelope import utc_now
from events.aio import wait_event
from incidents.service import IncidentService
from metrics.vendor_tally import TALLY, VendorTally
from store import incidents
from store.incidents import OpenAlready

log = structlog.get_logger(__name__)

WATCH_AUTHOR = "watch"
OUTAGE_ERRORS = frozenset({"FlyUnavailable", "StripeUnavailable", "KmsUnavailable"})
NAMES = {
    "api": "the API",
    "bus": "the message bus",
    "database": "the database",
    "fly": "hosted machines (Fly)",
    "kms": "key management (KMS)",
    "stripe": "payments (Stripe)",
}


@dataclass
class _Streak:
    failing_since: datetime | None = None
    healthy_since: datetime | None = None
    detail: str = ""


class IncidentWatch:
    def __init__(
        self,
        service: IncidentService,
        probes: Mapping[str, Probe],
        *,
        every_s: float,
        open_after_s: float,
        close_after_s: float,
        probe_timeout_s: float = 5.0,
        tally: VendorTally = TALLY,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._service = service
        self._board = StatusBoard(probes, timeout_s=probe_timeout_s, slow_s=probe_timeout_s, ttl_s=0)  # type: ignore[arg-type]
        self._every_s = every_s
        self._open_after = timedelta(seconds=open_after_s)
        self._close_after = timedelta(seconds=close_after_s)
        self._tally = tally
        self._clock = clock
        self._streaks: dict[str, _Streak] = {name: _Streak() for name in probes}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except Exception:  # the database away: the next look tries again (and the bus's own incident waits)
                log.exception("incident_watch.look_failed")
            await wait_event(stop, self._every_s)

    async def look(self) -> None:
        """One look at every component; opens and closes incidents as their streaks say."""
        report = await self._board.report()
        now = self._clock()
        for component in report.components:
            name = component.component
            calls = self._tally.take(name)
            failing = component.status == "down" or calls.all_failed_with(OUTAGE_ERRORS)
            detail = component.detail if component.status == "down" else f"our calls fail ({_errors(calls.errors)})"
            await self._follow(name, failing, detail, now)

    async def _follow(self, component: str, failing: bool, detail: str, now: datetime) -> None:
        streak = self._streaks[component]
        if failing:
            streak.healthy_since = None
            streak.failing_since = streak.failing_since or now
            streak.detail = detail
            if now - streak.failing_since >= self._open_after:
                await self._open(component, streak)
            return
        streak.failing_since = None
        streak.healthy_since = streak.healthy_since or now
        if now - streak.healthy_since >= self._close_after:
            await self._close(component, streak.healthy_since)

    async def _open(self, component: str, streak: _Streak) -> None:
        if await incidents.open_for(self._service.pool, component) is not None:
            return  # ours from an earlier look, or an operator's
        try:
            await self._service.open(
                component=component,
                title=f"{NAMES.get(component, component).capitalize()} failing",
                author=WATCH_AUTHOR,
                started_at=streak.failing_since,
                message=f"Detected automatically: {streak.detail}.",
            )
        except OpenAlready:
            return  # opened meanwhile (an operator)
        log.warning("incident_watch.opened", component=component, detail=streak.detail)

    async def _close(self, component: str, healthy_since: datetime) -> None:
        incident = await incidents.open_for(self._service.pool, component)
        if incident is None or incident.opened_by != WATCH_AUTHOR:
            return
        await self._service.close(
            incident.id,
            author=WATCH_AUTHOR,
            ended_at=max(healthy_since, incident.started_at),
            message="Our checks and calls succeed again.",
        )
        log.info("incident_watch.closed", component=component, incident_id=str(incident.id))


def _errors(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{count} x {name}" for name, count in sorted(errors.items())) or "no answer"
