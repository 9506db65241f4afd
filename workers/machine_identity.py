"""Issuing and revoking a bot's machine JWTs, for any worker (lifecycle, hosted bots).

A token is usable only while its ``jti`` row in ``machine_tokens`` is live, so
``issue_machine_token`` records it before handing it out and ``revoke_machine_tokens``
(called on bot stop and delete, inside the projection's transaction) ends every token
of the bot at once, and its bootstraps not yet exchanged.

A launch hands the machine no JWT but a single-use bootstrap (``vault.machine_bootstrap``)
that its boot exchanges through the API for the JWT. ``replace_machine_credential`` is what
a launch uses: a bot runs on one machine at a time, so a relaunch (a wake, a start, a
recreated machine) ends the replaced machine's token and bootstrap in the same transaction
that records the new bootstrap.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from store import machine_bootstraps, machine_tokens
from store.types import Executor
from vault.machine_bootstrap import DEFAULT_TTL_S, new_bootstrap
from vault.machine_jwt import MachineTokens, open_machine_tokens
from workers.settings import WorkerSettings


def machine_tokens_for(settings: WorkerSettings) -> MachineTokens:
    """The signer for this worker process: the key folder, issuer, audience and TTL the API verifies."""
    return open_machine_tokens(
        settings.machine_jwt_key_dir,
        ttl_s=settings.machine_token_ttl_s,
        issuer=settings.jwt_issuer,
        audience=settings.machine_jwt_audience,
    )


async def issue_machine_token(
    db: Executor, tokens: MachineTokens, bot_id: uuid.UUID, *, now: float | None = None, ttl_s: int | None = None
) -> str:
    """Mint a machine JWT for ``bot_id`` and record it as live; returns the token."""
    token, claims = tokens.mint(bot_id, now=now, ttl_s=ttl_s)
    await machine_tokens.record_issued(
        db,
        jti=claims.jti,
        bot_id=bot_id,
        kid=claims.kid,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
    )
    return token


async def replace_machine_credential(
    pool: asyncpg.Pool,
    bot_id: uuid.UUID,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    now: datetime | None = None,
    reason: str = "machine replaced",
) -> str:
    """Revoke every credential of ``bot_id`` and record one new bootstrap, atomically; returns it."""
    bootstrap, token_hash = new_bootstrap()
    expires_at = (now or datetime.now(UTC)) + timedelta(seconds=ttl_s)
    async with pool.acquire() as conn, conn.transaction():
        await revoke_machine_tokens(conn, bot_id, reason)
        await machine_bootstraps.record(conn, token_hash=token_hash, bot_id=bot_id, expires_at=expires_at)
    return bootstrap


async def revoke_machine_tokens(db: Executor, bot_id: uuid.UUID, reason: str) -> int:
    """Revoke every live machine token of ``bot_id`` and its open bootstraps; returns how many tokens were live."""
    await machine_bootstraps.revoke_open_for_bot(db, bot_id, reason)
    return await machine_tokens.revoke_for_bot(db, bot_id, reason)
