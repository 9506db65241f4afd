"""Audit records: appended in batches, idempotent on (bot id, seq), read in seq order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events import AuditRecord
from store.types import Executor


@dataclass(frozen=True)
class AuditRow:
    seq: int
    bar_at: datetime
    kind: str
    regime: int | None
    probabilities: list[float]
    equity: float | None
    detail: dict[str, Any]
    recorded_at: datetime


async def insert_batch(db: Executor, records: Sequence[AuditRecord]) -> int:
    """Insert records, skipping (bot id, seq) pairs already stored; return how many were new."""
    if not records:
        return 0
    rows = await db.fetch(
        "INSERT INTO audit_events (bot_id, seq, bar_at, kind, regime, probabilities, equity, detail, message_id)"
        " SELECT bot_id, seq, bar_at, kind, regime, probabilities::float8[], equity, detail, message_id"
        " FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::text[], $5::smallint[],"
        "  $6::text[], $7::float8[], $8::jsonb[], $9::text[])"
        " AS t(bot_id, seq, bar_at, kind, regime, probabilities, equity, detail, message_id)"
        " ON CONFLICT (bot_id, seq) DO NOTHING RETURNING seq",
        [r.bot_id for r in records],
        [r.seq for r in records],
        [r.bar_at for r in records],
        [r.kind for r in records],
        [r.regime for r in records],
        # a 1-d text array of "{...}" literals, cast per row: unnest cannot take ragged 2-d arrays
        ["{" + ",".join(repr(float(p)) for p in r.probabilities) + "}" for r in records],
        [r.equity for r in records],
        [r.detail for r in records],
        [r.id for r in records],
    )
    return len(rows)


async def page(db: Executor, bot_id: uuid.UUID, *, after: int, limit: int) -> list[AuditRow]:
    rows = await db.fetch(
        "SELECT seq, bar_at, kind, regime, probabilities, equity, detail, recorded_at FROM audit_events"
        " WHERE bot_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        bot_id,
        after,
        limit,
    )
    return [AuditRow(**dict(r)) for r in rows]


async def latest_risk_status(db: Executor, bot_id: uuid.UUID) -> str | None:
    """The risk status (``ok``, ``adjusted``, ``halted``, ``killed``) of the bot's newest record, if any."""
    status: str | None = await db.fetchval(
        "SELECT detail->'risk'->>'status' FROM audit_events WHERE bot_id = $1 ORDER BY seq DESC LIMIT 1", bot_id
    )
    return status
