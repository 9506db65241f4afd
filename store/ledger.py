"""The idempotency ledger: each (consumer, message id) is handled once.

Claim inside the same transaction as the side effects: if the transaction commits,
the message counts as handled; if the process dies first, nothing is recorded and
the redelivery does the work.
"""

from __future__ import annotations

import json
from typing import Any

from store.types import Executor


async def claim(db: Executor, *, consumer: str, message_id: str) -> bool:
    """``True`` the first time; ``False`` if this consumer already handled the message."""
    row = await db.fetchrow(
        "INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        consumer,
        message_id,
    )
    return row is not None


async def save_outcome(db: Executor, *, consumer: str, message_id: str, outcome: list[dict[str, Any]]) -> None:
    await db.execute(
        "UPDATE processed_messages SET outcome = $3 WHERE consumer = $1 AND message_id = $2",
        consumer,
        message_id,
        outcome,
    )


async def outcome_of(db: Executor, *, consumer: str, message_id: str) -> list[dict[str, Any]]:
    value = await db.fetchval(
        "SELECT outcome FROM processed_messages WHERE consumer = $1 AND message_id = $2", consumer, message_id
    )
    if value is None:
        return []
    return list(json.loads(value) if isinstance(value, str) else value)


async def times_processed(db: Executor, *, consumer: str, message_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = $1 AND message_id = $2", consumer, message_id
        )
    )
