"""Single-use bootstrap credentials of hosted bots' machines (see migration 0008).

``redeem`` is the one atomic step that makes a bootstrap single-use: the ``UPDATE`` claims an
open, unexpired row or nothing, so two concurrent exchanges cannot both win.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from store.types import Executor


async def record(db: Executor, *, token_hash: bytes, bot_id: uuid.UUID, expires_at: datetime) -> None:
    await db.execute(
        "INSERT INTO machine_bootstraps (token_hash, bot_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        bot_id,
        expires_at,
    )


async def redeem(db: Executor, *, token_hash: bytes, bot_id: uuid.UUID) -> bool:
    """Claim an open, unexpired bootstrap of ``bot_id``; False if there is none to claim."""
    claimed = await db.fetchval(
        "UPDATE machine_bootstraps SET exchanged_at = now()"
        " WHERE token_hash = $1 AND bot_id = $2 AND exchanged_at IS NULL AND revoked_at IS NULL"
        " AND expires_at > now() RETURNING true",
        token_hash,
        bot_id,
    )
    return bool(claimed)


async def set_machine_jti(db: Executor, *, token_hash: bytes, jti: uuid.UUID) -> None:
    await db.execute("UPDATE machine_bootstraps SET machine_jti = $2 WHERE token_hash = $1", token_hash, jti)


async def record_replay(db: Executor, *, token_hash: bytes) -> uuid.UUID | None:
    """Count a refused exchange of an already exchanged bootstrap; its bot, or None if it never was."""
    bot_id: uuid.UUID | None = await db.fetchval(
        "UPDATE machine_bootstraps SET replays = replays + 1, last_replay_at = now()"
        " WHERE token_hash = $1 AND exchanged_at IS NOT NULL RETURNING bot_id",
        token_hash,
    )
    return bot_id


async def revoke_open_for_bot(db: Executor, bot_id: uuid.UUID, reason: str) -> int:
    """Revoke the bot's bootstraps that were never exchanged; how many."""
    status = await db.execute(
        "UPDATE machine_bootstraps SET revoked_at = now(), revoked_reason = $2"
        " WHERE bot_id = $1 AND exchanged_at IS NULL AND revoked_at IS NULL",
        bot_id,
        reason,
    )
    return int(status.split()[-1])
