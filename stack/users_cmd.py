"""``hmmtrade users set-tier EMAIL TIER``: an operator sets a user's plan tier."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from store import users


def run_set_tier(email: str, tier: str, *, data_dir: Path) -> int:
    from store.embedded import start_embedded_postgres

    dsn = os.environ.get("DATABASE_URL") or start_embedded_postgres(data_dir.resolve() / "postgres")[0]

    async def _set() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return await users.set_tier(conn, email, tier)
        finally:
            await conn.close()

    if not asyncio.run(_set()):
        print(f"error: no user with email {email!r}", file=sys.stderr)
        return 2
    print(f"{email} is now on the {tier} tier")
    return 0
