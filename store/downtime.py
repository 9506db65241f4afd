"""Hosted bots that should run but could not, because the hosting provider refused.

The hosting worker opens an interval at a bot's first refused launch, wake or relaunch and
closes it when a machine runs again or the owner no longer wants one (stopped, deleted, failed).
Service credits are computed from these intervals (``incidents.credits``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from store.types import Executor

DowntimeCause = Literal["launch", "wake", "relaunch"]


@dataclass(frozen=True)
class DownInterval:
    bot_id: uuid.UUID
    user_id: uuid.UUID
    bot_name: str
    cause: DowntimeCause
    started_at: datetime
    ended_at: datetime | None


async def open_downtime(
    db: Executor, *, bot_id: uuid.UUID, user_id: uuid.UUID, cause: DowntimeCause, at: datetime
) -> bool:
    """Start the bot's downtime at ``at`` unless one is open already; True if this call opened it."""
    row = await db.fetchrow(
        "INSERT INTO hosted_downtime (bot_id, user_id, cause, started_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (bot_id) WHERE ended_at IS NULL DO NOTHING RETURNING id",
        bot_id,
        user_id,
        cause,
        at,
    )
    return row is not None


async def close_downtime(db: Executor, bot_id: uuid.UUID, *, at: datetime) -> bool:
    """End the bot's open downtime at ``at`` (never before it began); True if one was open."""
    row = await db.fetchrow(
        "UPDATE hosted_downtime SET ended_at = greatest($2, started_at) WHERE bot_id = $1 AND ended_at IS NULL"
        " RETURNING id",
        bot_id,
        at,
    )
    return row is not None


async def overlapping(db: Executor, start: datetime, end: datetime) -> list[DownInterval]:
    """Every interval that overlaps [``start``, ``end``] (an open one counts as lasting until now)."""
    rows = await db.fetch(
        "SELECT d.bot_id, d.user_id, b.name AS bot_name, d.cause, d.started_at, d.ended_at"
        " FROM hosted_downtime d JOIN bots b ON b.id = d.bot_id"
        " WHERE d.started_at < $2 AND (d.ended_at IS NULL OR d.ended_at > $1)"
        " ORDER BY d.user_id, d.bot_id, d.started_at",
        start,
        end,
    )
    return [DownInterval(**dict(row)) for row in rows]


async def of_bot(db: Executor, bot_id: uuid.UUID) -> list[DownInterval]:
    rows = await db.fetch(
        "SELECT d.bot_id, d.user_id, b.name AS bot_name, d.cause, d.started_at, d.ended_at"
        " FROM hosted_downtime d JOIN bots b ON b.id = d.bot_id WHERE d.bot_id = $1 ORDER BY d.started_at",
        bot_id,
    )
    return [DownInterval(**dict(row)) for row in rows]
