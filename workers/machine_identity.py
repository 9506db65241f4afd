"""Issuing and revoking a bot's machine JWTs, for any worker (lifecycle, hosted bots).

A token is usable only while its ``jti`` row in ``machine_tokens`` is live, so
``issue_machine_token`` records it before handing it out and ``revoke_machine_tokens``
(called on bot stop and delete, inside the projection's transaction) ends every token
of the bot at once. ``replace_machine_token`` is what a launch uses: a bot runs on one
machine at a time, so a relaunch (a wake, a start, a recreated machine) ends the replaced
machine's token in the same transaction that records the new one.
"""

from __future__ import annotations

import uuid

import asyncpg

from store import machine_tokens
from store.types import Executor
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


async def replace_machine_token(
    pool: asyncpg.Pool, tokens: MachineTokens, bot_id: uuid.UUID, *, reason: str = "machine replaced"
) -> str:
    """Revoke every live token of ``bot_id`` and mint its one new token, atomically; returns the token."""
    async with pool.acquire() as conn, conn.transaction():
        await machine_tokens.revoke_for_bot(conn, bot_id, reason)
        return await issue_machine_token(conn, tokens, bot_id)


async def revoke_machine_tokens(db: Executor, bot_id: uuid.UUID, reason: str) -> int:
    """Revoke every live machine token of ``bot_id``; returns how many were live."""
    return await machine_tokens.revoke_for_bot(db, bot_id, reason)
