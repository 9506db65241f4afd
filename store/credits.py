"""Service credits: what each customer is owed for an incident, and whether it was issued."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from store.types import Executor


@dataclass(frozen=True)
class CreditedBotRow:
    bot_id: uuid.UUID
    bot_name: str
    down_seconds: int
    credited_seconds: int


@dataclass(frozen=True)
class CreditRow:
    incident_id: uuid.UUID
    user_id: uuid.UUID
    plan: str
    bot_seconds: int
    credited_seconds: int
    amount_cents: int
    currency: str
    status: str
    stripe_txn_id: str | None = None
    issued_at: datetime | None = None
    notified_at: datetime | None = None
    bots: list[CreditedBotRow] = field(default_factory=list)


_FIELDS = (
    "incident_id",
    "user_id",
    "plan",
    "bot_seconds",
    "credited_seconds",
    "amount_cents",
    "currency",
    "status",
    "stripe_txn_id",
    "issued_at",
    "notified_at",
)


def _credit(row: asyncpg.Record) -> CreditRow:
    return CreditRow(**{name: row[name] for name in _FIELDS})


async def record(db: Executor, credits: list[CreditRow]) -> int:
    """Record the incident's computed credits; rows already there are kept as they were (a re-run
    issues what the first run computed). Returns how many were new."""
    new = 0
    for credit in credits:
        row = await db.fetchrow(
            "INSERT INTO service_credits (incident_id, user_id, plan, bot_seconds, credited_seconds, amount_cents,"
            " currency, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (incident_id, user_id) DO NOTHING RETURNING user_id",
            credit.incident_id,
            credit.user_id,
            credit.plan,
            credit.bot_seconds,
            credit.credited_seconds,
            credit.amount_cents,
            credit.currency,
            credit.status,
        )
        if row is None:
            continue
        new += 1
        await db.executemany(
            "INSERT INTO service_credit_bots (incident_id, user_id, bot_id, bot_name, down_seconds, credited_seconds)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (credit.incident_id, credit.user_id, b.bot_id, b.bot_name, b.down_seconds, b.credited_seconds)
                for b in credit.bots
            ],
        )
    return new


async def of_incident(db: Executor, incident_id: uuid.UUID) -> list[CreditRow]:
    rows = await db.fetch("SELECT * FROM service_credits WHERE incident_id = $1 ORDER BY user_id", incident_id)
    return await _with_bots(db, [_credit(row) for row in rows])


async def of_user(db: Executor, user_id: uuid.UUID, *, limit: int = 50) -> list[CreditRow]:
    rows = await db.fetch(
        "SELECT * FROM service_credits WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2", user_id, limit
    )
    return await _with_bots(db, [_credit(row) for row in rows])


async def _with_bots(db: Executor, credits: list[CreditRow]) -> list[CreditRow]:
    if not credits:
        return []
    rows = await db.fetch(
        "SELECT incident_id, user_id, bot_id, bot_name, down_seconds, credited_seconds FROM service_credit_bots"
        " WHERE (incident_id, user_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) ORDER BY bot_name, bot_id",
        [c.incident_id for c in credits],
        [c.user_id for c in credits],
    )
    bots: dict[tuple[uuid.UUID, uuid.UUID], list[CreditedBotRow]] = {}
    for row in rows:
        values = dict(row)
        key = (values.pop("incident_id"), values.pop("user_id"))
        bots.setdefault(key, []).append(CreditedBotRow(**values))
    return [CreditRow(**{**c.__dict__, "bots": bots.get((c.incident_id, c.user_id), [])}) for c in credits]


async def mark_issued(
    db: Executor, incident_id: uuid.UUID, user_id: uuid.UUID, *, status: str, txn_id: str | None, at: datetime
) -> None:
    await db.execute(
        "UPDATE service_credits SET status = $3, stripe_txn_id = $4, issued_at = $5"
        " WHERE incident_id = $1 AND user_id = $2 AND status = 'pending'",
        incident_id,
        user_id,
        status,
        txn_id,
        at,
    )


async def mark_notified(db: Executor, incident_id: uuid.UUID, user_id: uuid.UUID, *, at: datetime) -> bool:
    """True for the one caller that marks it (a re-run does not tell the customer twice)."""
    row = await db.fetchrow(
        "UPDATE service_credits SET notified_at = $3 WHERE incident_id = $1 AND user_id = $2 AND notified_at IS NULL"
        " RETURNING user_id",
        incident_id,
        user_id,
        at,
    )
    return row is not None
