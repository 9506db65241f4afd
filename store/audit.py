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


@dataclass(frozen=True)
class RiskState:
    """A bot's risk verdict on its newest record; for a halted or killed bot, since which bar."""

    status: str
    reason: str | None
    since: datetime | None


REASON_CHARS = 300  # written by the bot: shown in lists, so bounded


async def latest_risks(db: Executor, bot_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RiskState]:
    """Each bot's risk state from its newest stored record (bots without records are left out).

    One index probe per bot (newest seq first), then, for a halted or killed bot only, a walk
    back to the newest record whose events hold the halt: that bar is when it stopped trading."""
    rows = await db.fetch(
        "SELECT b.id, a.seq, a.detail->'risk'->>'status' AS status, a.detail->'risk'->'reasons'->>0 AS reason"
        " FROM unnest($1::uuid[]) AS b(id) CROSS JOIN LATERAL ("
        "  SELECT seq, detail FROM audit_events WHERE bot_id = b.id ORDER BY seq DESC LIMIT 1) AS a",
        list(bot_ids),
    )
    out: dict[uuid.UUID, RiskState] = {}
    for row in rows:
        if row["status"] is None:
            continue
        since = None
        if row["status"] in ("halted", "killed"):
            since = await db.fetchval(
                "SELECT bar_at FROM audit_events WHERE bot_id = $1 AND seq <= $2"
                " AND detail->'events' @> '[{\"kind\": \"halt\"}]' ORDER BY seq DESC LIMIT 1",
                row["id"],
                row["seq"],
            )
        reason = row["reason"][:REASON_CHARS] if row["reason"] else None
        out[row["id"]] = RiskState(str(row["status"])[:32], reason, since)
    return out
