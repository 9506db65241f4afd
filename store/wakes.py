"""Scale-to-zero wakes: the hosted bots that sleep between closes, and the wakes they had."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.bots import BotRow
from store.types import Executor


@dataclass(frozen=True)
class WakeCandidate:
    """A running hosted bot and the session close of its last wake (None: never woken)."""

    bot: BotRow
    last_close: datetime | None


async def running_hosted_bots(db: Executor) -> list[WakeCandidate]:
    """Running, undeleted hosted bots with their last wake; the caller keeps those that scale to zero."""
    rows = await db.fetch(
        "SELECT b.*, w.last_close FROM bots b"
        " LEFT JOIN LATERAL (SELECT max(session_close) AS last_close FROM bot_wakes WHERE bot_id = b.id) w ON true"
        " WHERE b.surface = 'hosted' AND b.status = 'running' AND b.deleted_at IS NULL"
        " ORDER BY b.created_at, b.id"
    )
    return [WakeCandidate(bot=_bot_row(row), last_close=row["last_close"]) for row in rows]


async def record_wake(
    db: Executor, bot_id: uuid.UUID, *, session_close: datetime, wake_id: str, woken_at: datetime
) -> bool:
    """Remember a wake; ``False`` when that (bot, session close) was already recorded."""
    row = await db.fetchrow(
        "INSERT INTO bot_wakes (bot_id, session_close, wake_id, woken_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (bot_id, session_close) DO NOTHING RETURNING bot_id",
        bot_id,
        session_close,
        wake_id,
        woken_at,
    )
    return row is not None


async def wakes_of(db: Executor, bot_id: uuid.UUID) -> list[tuple[datetime, str]]:
    """A bot's recorded wakes, oldest first: (session close, wake id)."""
    rows = await db.fetch(
        "SELECT session_close, wake_id FROM bot_wakes WHERE bot_id = $1 ORDER BY session_close", bot_id
    )
    return [(row["session_close"], row["wake_id"]) for row in rows]


def _bot_row(row: asyncpg.Record) -> BotRow:
    return BotRow(**{k: row[k] for k in BotRow.__dataclass_fields__})
