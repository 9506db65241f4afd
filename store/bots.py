"""Bots as the lifecycle worker projects them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.types import Executor


@dataclass(frozen=True)
class BotRow:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    surface: str
    mode: str
    status: str
    status_reason: str | None
    profile: dict[str, Any]
    machine_id: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


def _bot(row: asyncpg.Record | None) -> BotRow | None:
    return None if row is None else BotRow(**{k: row[k] for k in BotRow.__dataclass_fields__})


async def insert_bot(
    db: Executor,
    *,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    surface: str,
    mode: str,
    status: str,
    profile: dict[str, Any],
) -> bool:
    """Insert a bot; ``False`` when a bot with that id already exists."""
    row = await db.fetchrow(
        "INSERT INTO bots (id, user_id, name, surface, mode, status, profile)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id",
        bot_id,
        user_id,
        name,
        surface,
        mode,
        status,
        profile,
    )
    return row is not None


async def get_bot(db: Executor, bot_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> BotRow | None:
    """A bot by id; with ``user_id``, only if that user owns it."""
    if user_id is None:
        return _bot(await db.fetchrow("SELECT * FROM bots WHERE id = $1", bot_id))
    return _bot(await db.fetchrow("SELECT * FROM bots WHERE id = $1 AND user_id = $2", bot_id, user_id))


async def local_among(db: Executor, bot_ids: list[uuid.UUID | None]) -> set[uuid.UUID]:
    """Those of ``bot_ids`` that exist and run on the user's own machine (``local``): a bot's surface never changes."""
    rows = await db.fetch(
        "SELECT id FROM bots WHERE id = ANY($1::uuid[]) AND surface = 'local'", [i for i in bot_ids if i]
    )
    return {uuid.UUID(str(row["id"])) for row in rows}


async def get_bot_for_update(db: Executor, bot_id: uuid.UUID) -> BotRow | None:
    return _bot(await db.fetchrow("SELECT * FROM bots WHERE id = $1 FOR UPDATE", bot_id))


async def list_bots(db: Executor, user_id: uuid.UUID) -> list[BotRow]:
    rows = await db.fetch(
        "SELECT * FROM bots WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at, id", user_id
    )
    return [b for b in map(_bot, rows) if b is not None]


async def set_status(db: Executor, bot_id: uuid.UUID, status: str, reason: str | None = None) -> None:
    await db.execute(
        "UPDATE bots SET status = $2, status_reason = $3, updated_at = now(),"
        " deleted_at = CASE WHEN $2 = 'deleted' THEN coalesce(deleted_at, now()) ELSE deleted_at END"
        " WHERE id = $1",
        bot_id,
        status,
        reason,
    )


async def set_status_from(
    db: Executor, bot_id: uuid.UUID, allowed: tuple[str, ...], status: str, reason: str | None = None
) -> bool:
    """Set the status only if the bot is in one of ``allowed`` (a late event never undoes a stop)."""
    done = await db.fetchval(
        "UPDATE bots SET status = $3, status_reason = $4, updated_at = now()"
        " WHERE id = $1 AND status = ANY($2::text[]) RETURNING true",
        bot_id,
        list(allowed),
        status,
        reason,
    )
    return bool(done)


async def set_machine(db: Executor, bot_id: uuid.UUID, machine_id: str, *, status: str) -> None:
    """Record the Fly Machine a hosted bot runs on (a deleted bot stays deleted)."""
    await db.execute(
        "UPDATE bots SET machine_id = $2, status = $3, status_reason = NULL, updated_at = now()"
        " WHERE id = $1 AND status <> 'deleted'",
        bot_id,
        machine_id,
        status,
    )
