"""Issued machine JWTs and their revocation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from store.types import Executor


async def record_issued(
    db: Executor, *, jti: uuid.UUID, bot_id: uuid.UUID, kid: str, issued_at: float, expires_at: float
) -> None:
    await db.execute(
        "INSERT INTO machine_tokens (jti, bot_id, kid, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (jti) DO NOTHING",
        jti,
        bot_id,
        kid,
        datetime.fromtimestamp(issued_at, UTC),
        datetime.fromtimestamp(expires_at, UTC),
    )


async def is_live(db: Executor, *, jti: uuid.UUID, bot_id: uuid.UUID) -> bool:
    """Issued by us, for this bot, and not revoked."""
    value = await db.fetchval(
        "SELECT revoked_at IS NULL FROM machine_tokens WHERE jti = $1 AND bot_id = $2", jti, bot_id
    )
    return bool(value)


async def revoke_for_bot(db: Executor, bot_id: uuid.UUID, reason: str) -> int:
    """Revoke every live token of the bot; how many were live."""
    status = await db.execute(
        "UPDATE machine_tokens SET revoked_at = now(), revoked_reason = $2 WHERE bot_id = $1 AND revoked_at IS NULL",
        bot_id,
        reason,
    )
    return int(status.split()[-1])


async def revoke(db: Executor, jti: uuid.UUID, reason: str) -> bool:
    status = await db.execute(
        "UPDATE machine_tokens SET revoked_at = now(), revoked_reason = $2 WHERE jti = $1 AND revoked_at IS NULL",
        jti,
        reason,
    )
    return bool(status.split()[-1] != "0")


async def mark_bus_creds_issued(db: Executor, jti: uuid.UUID) -> None:
    """Bus credentials went out for this token: its revocation must reach the bus too."""
    await db.execute(
        "UPDATE machine_tokens SET bus_creds_issued_at = coalesce(bus_creds_issued_at, now()) WHERE jti = $1", jti
    )


async def bus_revocations_due(db: Executor, *, limit: int = 500) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(bot id, jti) of revoked, unexpired tokens whose bus credentials are not revoked on the bus yet."""
    rows = await db.fetch(
        "SELECT bot_id, jti FROM machine_tokens"
        " WHERE bus_creds_issued_at IS NOT NULL AND revoked_at IS NOT NULL AND bus_revoked_at IS NULL"
        " AND expires_at > now() ORDER BY revoked_at LIMIT $1",
        limit,
    )
    return [(row["bot_id"], row["jti"]) for row in rows]


async def mark_bus_revoked(db: Executor, jtis: list[uuid.UUID]) -> None:
    await db.execute("UPDATE machine_tokens SET bus_revoked_at = now() WHERE jti = ANY($1::uuid[])", jtis)
