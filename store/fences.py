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


async def take(db: Executor, name: str, epoch: int, token: int, holder: str) -> bool:
    """Make (``epoch``, ``token``) the newest of ``name``; False when a newer one is already recorded."""
    row = await db.fetchrow(
        "INSERT INTO singleton_fences (name, epoch, token, holder) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name) DO UPDATE SET epoch = EXCLUDED.epoch, token = EXCLUDED.token,"
        " holder = EXCLUDED.holder, taken_at = now()"
        " WHERE (singleton_fences.epoch, singleton_fences.token) <= (EXCLUDED.epoch, EXCLUDED.token) RETURNING token",
        name,
        epoch,
        token,
        holder,
    )
    return row is not None


async def check(db: Executor, name: str, epoch: int, token: int) -> None:
    """Inside a transaction: raise :class:`FenceLost` unless (``epoch``, ``token``) is still ``name``'s newest."""
    row = await db.fetchrow("SELECT epoch, token FROM singleton_fences WHERE name = $1 FOR SHARE", name)
    if row is None or (row["epoch"], row["token"]) != (epoch, token):
        current = None if row is None else f"{row['epoch']}/{row['token']}"
        raise FenceLost(f"{name}: token {epoch}/{token} was superseded by {current}")
