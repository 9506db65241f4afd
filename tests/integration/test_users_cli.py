"""``hmmtrade users set-tier``: an operator moves a user between plans."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from stack.cli import main
from store import users


async def _with_db(dsn: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def test_set_tier_changes_the_users_plan_and_an_unknown_email_is_one_error_line(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"Tier.{uuid.uuid4().hex[:8]}@example.com"

    async def create() -> None:
        conn = await asyncpg.connect(pg_dsn)
        await users.create_user(conn, user_id=uuid.uuid4(), email=email, password_hash="x")
        await conn.close()

    asyncio.run(create())
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    assert main(["users", "set-tier", email.lower(), "pro"]) == 0
    assert asyncio.run(_with_db(pg_dsn, "SELECT tier FROM users WHERE email = $1", email)) == "pro"
    assert main(["users", "set-tier", "nobody@example.com", "team"]) == 2
    assert capsys.readouterr().err.strip() == "error: no user with email 'nobody@example.com'"
