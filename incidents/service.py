"""Opening, updating and closing incidents: validated, stored, then published as events.

The incident watch and the operators' ``hmmtrade incidents`` commands both go through here.
Postgres is the record (the status page reads it); each change is then published as
``events.incident.<id>.<opened|updated|closed>`` with an id derived from the incident and its
update number, so a repeated publish is stored once. A publish lost to a bus outage delays no
credit: the credits worker also sweeps closed incidents whose credits are not settled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

import asyncpg
import structlog

from contracts.api import StatusComponent
from contracts.envelope import utc_now
from contracts.incidents import IncidentEvent, IncidentPublic, IncidentState, IncidentUpdatePublic
from events.bus import Bus, BusUnavailable
from events.topology import incident_event_subject
from store import incidents
from store.incidents import Incident
from store.types import Executor

log = structlog.get_logger(__name__)

COMPONENTS: tuple[str, ...] = get_args(StatusComponent)
STATES: tuple[str, ...] = get_args(IncidentState)
IMPACTS = ("down", "degraded")
CLOCK_SKEW = timedelta(minutes=5)  # an operator's clock may run a little ahead of ours
Change = Literal["opened", "updated", "closed"]


class IncidentInputError(ValueError):
    """What an operator (or the watch) asked for is not possible; the message says why."""


def check_component(component: str) -> str:
    if component not in COMPONENTS:
        raise IncidentInputError(f"unknown component {component!r}: use one of {', '.join(COMPONENTS)}")
    return component


def check_message(message: str, what: str = "message", limit: int = 2_000) -> str:
    text = message.strip()
    if not text:
        raise IncidentInputError(f"the {what} is empty")
    if len(text) > limit:
        raise IncidentInputError(f"the {what} is {len(text)} characters long; at most {limit}")
    return text


def _check_time(value: datetime, what: str, now: datetime) -> datetime:
    if value.tzinfo is None:
        raise IncidentInputError(f"the {what} time {value.isoformat()} has no time zone: give one (e.g. +00:00)")
    if value > now + CLOCK_SKEW:
        raise IncidentInputError(f"the {what} time {value.isoformat()} is in the future")
    return value


def public(incident: Incident) -> IncidentPublic:
    return IncidentPublic(
        id=incident.id,
        component=incident.component,
        title=incident.title,
        impact=incident.impact,
        started_at=incident.started_at,
        ended_at=incident.ended_at,
        updates=[IncidentUpdatePublic(at=u.at, state=u.state, message=u.message) for u in incident.updates],
    )


@dataclass
class IncidentService:
    pool: asyncpg.Pool
    bus: Bus | None  # None: stored only (the sweep and the status page still see it)
    clock: Callable[[], datetime] = utc_now

    async def open(
        self,
        *,
        component: str,
        title: str,
        author: str,
        impact: str = "down",
        started_at: datetime | None = None,
        message: str | None = None,
    ) -> Incident:
        """A new incident (:class:`store.incidents.OpenAlready` if the component has one open)."""
        now = self.clock()
        check_component(component)
        title = check_message(title, "title", 200)
        if impact not in IMPACTS:
            raise IncidentInputError(f"unknown impact {impact!r}: use down or degraded")
        started = _check_time(started_at, "start", now) if started_at is not None else now
        text = check_message(message, "message") if message is not None else title
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await incidents.insert(
                conn,
                incident_id=uuid.uuid4(),
                component=component,
                title=title,
                impact=impact,
                opened_by=author,
                started_at=started,
            )
            await incidents.add_update(conn, incident.id, at=now, state="investigating", message=text, author=author)
        return await self._published(incident.id, "opened")

    async def update(self, incident_id: uuid.UUID, *, message: str, author: str, state: str = "identified") -> Incident:
        if state not in STATES or state == "resolved":
            raise IncidentInputError(f"unknown state {state!r}: use investigating, identified or monitoring")
        text = check_message(message)
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await self._open_one(conn, incident_id)
            await incidents.add_update(conn, incident.id, at=self.clock(), state=state, message=text, author=author)
        return await self._published(incident_id, "updated")

    async def close(
        self, incident_id: uuid.UUID, *, author: str, ended_at: datetime | None = None, message: str | None = None
    ) -> Incident:
        now = self.clock()
        ended = _check_time(ended_at, "end", now) if ended_at is not None else now
        text = check_message(message) if message is not None else "The service works normally again."
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await self._open_one(conn, incident_id)
            if ended < incident.started_at:
                raise IncidentInputError(
                    f"the end {ended.isoformat()} is before the incident's start {incident.started_at.isoformat()}"
                )
            await incidents.close(conn, incident_id, ended_at=ended)
            await incidents.add_update(conn, incident_id, at=now, state="resolved", message=text, author=author)
        return await self._published(incident_id, "closed")

    async def _open_one(self, conn: Executor, incident_id: uuid.UUID) -> Incident:
        incident = await incidents.get(conn, incident_id, for_update=True)
        if incident is None:
            raise IncidentInputError(f"no incident {incident_id}")
        if incident.ended_at is not None:
            raise IncidentInputError(f"incident {incident_id} was closed at {incident.ended_at.isoformat()}")
        return incident

    async def _published(self, incident_id: uuid.UUID, change: Change) -> Incident:
        incident = await incidents.get(self.pool, incident_id)
        assert incident is not None
        await self.publish(incident, change)
        log.info(f"incident.{change}", incident_id=str(incident.id), component=incident.component)
        return incident

    async def publish(self, incident: Incident, change: Change) -> bool:
        """Publish the incident as it stands; False if the bus did not take it (logged, not raised)."""
        if self.bus is None:
            return False
        seq = incident.updates[-1].seq if incident.updates else 0
        event = IncidentEvent(id=f"incident:{incident.id}:{seq}", type=f"incident.{change}", incident=public(incident))
        try:
            await self.bus.publish(incident_event_subject(incident.id, change), event)
        except BusUnavailable as exc:
            log.warning("incident.publish_failed", incident_id=str(incident.id), error=str(exc))
            return False
        return True
