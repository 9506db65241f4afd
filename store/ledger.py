"""The idempotency ledger: each (consumer, message id) is handled once.

Record inside the same transaction as the side effects: if the transaction commits,
the message counts as handled; if the process dies first, nothing is recorded and
the redelivery does the work.
"""

from __future__ import annotations

import json
from typing import Any

from store.types import Executor


async def record(db: Executor, *, consumer: str, message_id: str, outcome: list[dict[str, Any]]) -> bool:
    """Record the message as handled with its outcome; ``False`` if it already was.

    Called last in the handler's transaction: a concurrent duplicate blocks on the
    unique key until the first commits, then sees the conflict and rolls back.
    """
    row = await db.fetchrow(
        "INSERT INTO processed_messages (consumer, message_id, outcome) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        consumer,
        message_id,
        outcome,
    )
    return row is not None


async def record_many(db: Executor, *, consumer: str, outcomes: dict[str, list[dict[str, Any]]]) -> set[str]:
    """:func:`record` for many messages in one statement; returns the ids it recorded (not those already there)."""
    rows = await db.fetch(
        "INSERT INTO processed_messages (consumer, message_id, outcome)"
        " SELECT $1, message_id, outcome::jsonb FROM unnest($2::text[], $3::text[]) AS t(message_id, outcome)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        consumer,
        list(outcomes),
        [json.dumps(outcome) for outcome in outcomes.values()],
    )
    return {str(row["message_id"]) for row in rows}


async def outcome_of(db: Executor, *, consumer: str, message_id: str) -> list[dict[str, Any]] | None:
    """The saved outcome of a handled message; ``None`` if it was never handled."""
    value = await db.fetchval(
        "SELECT outcome FROM processed_messages WHERE consumer = $1 AND message_id = $2", consumer, message_id
    )
    if value is None:
        return None
    return list(json.loads(value) if isinstance(value, str) else value)
