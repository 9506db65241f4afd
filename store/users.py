"""Users and their refresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.types import Executor


class EmailTaken(Exception):
    pass


@dataclass(frozen=True)
class UserRow:
    id: uuid.UUID
    email: str
    password_hash: str
    tier: str
    created_at: datetime
    tokens_valid_after: datetime | None = None  # access tokens issued earlier are refused


def _user(row: asyncpg.Record | None) -> UserRow | None:
    return None if row is None else UserRow(**{k: row[k] for k in UserRow.__dataclass_fields__})


async def create_user(db: Executor, *, user_id: uuid.UUID, email: str, password_hash: str) -> UserRow:
    try:
        row = await db.fetchrow(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) RETURNING *",
            user_id,
            email,
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        raise EmailTaken(email) from exc
    user = _user(row)
    assert user is not None
    return user


async def user_by_email(db: Executor, email: str) -> UserRow | None:
    return _user(await db.fetchrow("SELECT * FROM users WHERE lower(email) = lower($1)", email))


async def user_by_id(db: Executor, user_id: uuid.UUID) -> UserRow | None:
    return _user(await db.fetchrow("SELECT * FROM users WHERE id = $1", user_id))


async def update_password_hash(db: Executor, user_id: uuid.UUID, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", user_id, password_hash)


async def store_refresh_token(db: Executor, *, jti: uuid.UUID, user_id: uuid.UUID, expires_at: datetime) -> None:
    await db.execute(
        "INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)", jti, user_id, expires_at
    )


async def use_refresh_token(db: Executor, *, jti: uuid.UUID, user_id: uuid.UUID, now: datetime) -> str:
    """Mark a refresh token used. Returns ``ok``, ``reused`` or ``unknown``.

    A reused token means two parties hold it; every token of that user is then burnt: the
    refresh tokens, and the access tokens issued before ``now`` (``tokens_valid_after``).
    ``now`` is the API's clock, the one that stamps ``iat`` on access tokens, so the two compare.
    """
    row = await db.fetchrow(
        "UPDATE refresh_tokens SET used_at = now()"
        " WHERE jti = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > now()"
        " RETURNING jti",
        jti,
        user_id,
    )
    if row is not None:
        return "ok"
    known = await db.fetchval("SELECT used_at IS NOT NULL FROM refresh_tokens WHERE jti = $1", jti)
    if known:
        await db.execute("UPDATE refresh_tokens SET used_at = coalesce(used_at, now()) WHERE user_id = $1", user_id)
        await db.execute(
            "UPDATE users SET tokens_valid_after = greatest(tokens_valid_after, $2), updated_at = now() WHERE id = $1",
            user_id,
            now,
        )
        return "reused"
    return "unknown"


async def set_tier(db: Executor, email: str, tier: str) -> bool:
    """Set the plan tier of the user with ``email`` (operators; billing later); False if no such user."""
    status = await db.execute(
        "UPDATE users SET tier = $2, updated_at = now() WHERE lower(email) = lower($1)", email, tier
    )
    return bool(status == "UPDATE 1")
