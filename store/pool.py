"""The asyncpg pool, with JSON columns decoded to Python values."""

from __future__ import annotations

import json

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's ``RESET ALL`` round trip on every release.

    Nothing here changes session state (no SET, LISTEN or session advisory locks), and
    asyncpg still rolls back a connection released inside a transaction.
    """


CONNECT_TIMEOUT_S = 5.0  # asyncpg's default (60 s) would hold a request that long on an unanswering host


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool that outlives a database restart: a connection the server dropped is replaced on the
    next acquire, so callers see errors while Postgres is away and none once it is back."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=10,
        timeout=CONNECT_TIMEOUT_S,
    )
    assert pool is not None
    return pool
