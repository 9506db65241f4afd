"""Fencing tokens of the workers' singletons (see ``workers.lease``), checked where they write.

``take`` records a new holder's token, waiting for any transaction that is still writing under an
older token (they hold the row ``FOR SHARE``), and refuses a token older than one already seen.
``check`` runs inside each side effect's transaction: it holds the row shared until commit, so a
successor's ``take`` cannot slip in between the check and the write.
"""

from __future__ import annotations

from store.types import Executor


class FenceLost(Exception):
    """A newer holder of this singleton has acted: this one must stop writing."""


async def take(db: Executor, name: str, token: int, holder: str) -> bool:
    """Make ``token`` the newest of ``name``; False when a newer one is already recorded."""
    row = await db.fetchrow(
        "INSERT INTO singleton_fences (name, token, holder) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder, taken_at = now()"
        " WHERE singleton_fences.token <= EXCLUDED.token RETURNING token",
        name,
        token,
        holder,
    )
    return row is not None


async def check(db: Executor, name: str, token: int) -> None:
    """Inside a transaction: raise :class:`FenceLost` unless ``token`` is still ``name``'s newest."""
    current = await db.fetchval("SELECT token FROM singleton_fences WHERE name = $1 FOR SHARE", name)
    if current != token:
        raise FenceLost(f"{name}: token {token} was superseded by {current}")
