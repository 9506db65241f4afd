"""Incidents, their updates, and the service credits they gave rise to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from store.types import Executor


@dataclass(frozen=True)
class IncidentUpdate:
    seq: int
    at: datetime
    state: str
    message: str
    author: str


@dataclass(frozen=True)
class Incident:
    id: uuid.UUID
    component: str
    title: str
    impact: str
    opened_by: str
    started_at: datetime
    ended_at: datetime | None
    credits_computed_at: datetime | None
    credits_settled_at: datetime | None
    updates: list[IncidentUpdate] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


_FIELDS = (
    "id",
    "component",
    "title",
    "impact",
    "opened_by",
    "started_at",
    "ended_at",
    "credits_computed_at",
    "credits_settled_at",
)


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(**{name: row[name] for name in _FIELDS})


class OpenAlready(Exception):
    """The component already has an open incident: update that one instead."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"{incident.component} already has an open incident ({incident.id}: {incident.title})")
        self.incident = incident


async def insert(
    db: Executor,
    *,
    incident_id: uuid.UUID,
    component: str,
    title: str,
    impact: str,
    opened_by: str,
    started_at: datetime,
) -> Incident:
    """A new open incident; :class:`OpenAlready` if the component has one."""
    row = await db.fetchrow(
        "INSERT INTO incidents (id, component, title, impact, opened_by, started_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (component) WHERE ended_at IS NULL DO NOTHING RETURNING *",
        incident_id,
        component,
        title,
        impact,
        opened_by,
        started_at,
    )
    if row is None:
        existing = await open_for(db, component)
        if existing is None:  # closed between the insert and this read: rare; the caller may try again
            raise RuntimeError(f"{component}'s open incident closed while another was being opened")
        raise OpenAlready(existing)
    return _incident(row)


async def add_update(
    db: Executor, incident_id: uuid.UUID, *, at: datetime, state: str, message: str, author: str
) -> IncidentUpdate:
    row = await db.fetchrow(
        "INSERT INTO incident_updates (incident_id, seq, at, state, message, author)"
        " SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 FROM incident_updates WHERE incident_id = $1"
        " RETURNING seq, at, state, message, author",
        incident_id,
        at,
        state,
        message,
        author,
    )
    return IncidentUpdate(**dict(row))


async def close(db: Executor, incident_id: uuid.UUID, *, ended_at: datetime) -> bool:
    """End an open incident at ``ended_at``; False if it was closed already (a repeated close)."""
    row = await db.fetchrow(
        "UPDATE incidents SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL RETURNING id", incident_id, ended_at
    )
    return row is not None


_BY_ID = "SELECT * FROM incidents WHERE id = $1"
_BY_ID_FOR_UPDATE = "SELECT * FROM incidents WHERE id = $1 FOR UPDATE"


async def get(db: Executor, incident_id: uuid.UUID, *, for_update: bool = False) -> Incident | None:
    row = await db.fetchrow(_BY_ID_FOR_UPDATE if for_update else _BY_ID, incident_id)
    if row is None:
        return None
    return (await with_updates(db, [_incident(row)]))[0]


async def open_for(db: Executor, component: str) -> Incident | None:
    row = await db.fetchrow("SELECT * FROM incidents WHERE component = $1 AND ended_at IS NULL", component)
    return None if row is None else _incident(row)


async def with_updates(db: Executor, incidents: list[Incident]) -> list[Incident]:
    """The same incidents, each with its updates, oldest first."""
    if not incidents:
        return []
    rows = await db.fetch(
        "SELECT incident_id, seq, at, state, message, author FROM incident_updates"
        " WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id, seq",
        [i.id for i in incidents],
    )
    by_incident: dict[uuid.UUID, list[IncidentUpdate]] = {}
    for row in rows:
        values = dict(row)
        by_incident.setdefault(values.pop("incident_id"), []).append(IncidentUpdate(**values))
    return [Incident(**{**i.__dict__, "updates": by_incident.get(i.id, [])}) for i in incidents]


async def history(db: Executor, *, since: datetime, limit: int = 50) -> list[Incident]:
    """Open incidents first, then those that ended after ``since``, newest first, with updates."""
    rows = await db.fetch(
        "SELECT * FROM incidents WHERE ended_at IS NULL OR ended_at >= $1"
        " ORDER BY ended_at IS NOT NULL, started_at DESC, id LIMIT $2",
        since,
        limit,
    )
    return await with_updates(db, [_incident(row) for row in rows])


async def open_incidents(db: Executor) -> list[Incident]:
    rows = await db.fetch("SELECT * FROM incidents WHERE ended_at IS NULL ORDER BY started_at")
    return [_incident(row) for row in rows]


async def unsettled(db: Executor) -> list[uuid.UUID]:
    """Closed incidents whose credits have not all been issued yet (oldest first)."""
    rows = await db.fetch(
        "SELECT id FROM incidents WHERE ended_at IS NOT NULL AND credits_settled_at IS NULL ORDER BY ended_at"
    )
    return [row["id"] for row in rows]


async def mark_settled(db: Executor, incident_id: uuid.UUID, *, at: datetime) -> None:
    await db.execute(
        "UPDATE incidents SET credits_settled_at = $2 WHERE id = $1 AND credits_settled_at IS NULL", incident_id, at
    )


async def mark_computed(db: Executor, incident_id: uuid.UUID, *, at: datetime) -> None:
    await db.execute(
        "UPDATE incidents SET credits_computed_at = $2 WHERE id = $1 AND credits_computed_at IS NULL", incident_id, at
    )
