"""The intent log as users see it: accepted, then done or failed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.types import Executor


@dataclass(frozen=True)
class IntentRow:
    id: str
    user_id: uuid.UUID
    kind: str
    bot_id: uuid.UUID | None
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime


def _intent(row: asyncpg.Record | None) -> IntentRow | None:
    return None if row is None else IntentRow(**{k: row[k] for k in IntentRow.__dataclass_fields__})


async def record_accepted(db: Executor, accepted: Sequence[Any]) -> None:
    """Record intents as accepted in one statement (objects with intent_id, user_id, kind, bot_id).

    A worker that got there first (and wrote the outcome) wins.
    """
    await db.execute(
        "INSERT INTO intents (id, user_id, kind, bot_id, status)"
        " SELECT id, user_id, kind, bot_id, 'accepted' FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[])"
        " AS t(id, user_id, kind, bot_id) ON CONFLICT (id) DO NOTHING",
        [a.intent_id for a in accepted],
        [a.user_id for a in accepted],
        [a.kind for a in accepted],
        [a.bot_id for a in accepted],
    )


async def record_outcome(
    db: Executor,
    *,
    intent_id: str,
    user_id: uuid.UUID,
    kind: str,
    bot_id: uuid.UUID | None,
    status: str,
    error: str | None = None,
) -> None:
    await record_outcomes(db, [Outcome(intent_id, user_id, kind, bot_id, status, error)])


@dataclass(frozen=True)
class Outcome:
    """How a worker settled one intent: ``done``, or ``failed`` with the error the user sees."""

    intent_id: str
    user_id: uuid.UUID
    kind: str
    bot_id: uuid.UUID | None
    status: str
    error: str | None = None


async def record_outcomes(db: Executor, outcomes: Sequence[Outcome]) -> None:
    """:func:`record_outcome` for many intents in one statement (the lifecycle worker's batches)."""
    await db.execute(
        "INSERT INTO intents (id, user_id, kind, bot_id, status, error)"
        " SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[])"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, updated_at = now()",
        [o.intent_id for o in outcomes],
        [o.user_id for o in outcomes],
        [o.kind for o in outcomes],
        [o.bot_id for o in outcomes],
        [o.status for o in outcomes],
        [o.error for o in outcomes],
    )


async def get_intent(db: Executor, intent_id: str, *, user_id: uuid.UUID) -> IntentRow | None:
    return _intent(await db.fetchrow("SELECT * FROM intents WHERE id = $1 AND user_id = $2", intent_id, user_id))
