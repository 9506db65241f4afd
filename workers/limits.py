"""Plan limits as the lifecycle worker enforces them, inside its projection transaction.

The API checks first; this is the authoritative check for creates and starts that
slipped past it (two concurrent requests, a tier that changed in between). The user's
row is locked, so creates of one user are counted one after another.
"""

from __future__ import annotations

import uuid
from typing import Any

from billing.plans import check_create, check_hosted
from store import billing as billing_store


async def refuse_create(conn: Any, *, user_id: uuid.UUID, bot_id: uuid.UUID, surface: str) -> str | None:
    """Why this create may not happen on the user's plan; ``None`` if it may (or already did)."""
    await billing_store.lock_tier(conn, user_id)
    usage = await billing_store.usage_unless_exists(conn, user_id, bot_id)
    if usage is None:
        return None  # a redelivered create: the bot already counts
    refused = check_create(usage.tier, surface, bots=usage.bots, hosted_bots=usage.hosted_bots)
    return None if refused is None else refused.message


async def refuse_start(conn: Any, *, user_id: uuid.UUID, surface: str) -> str | None:
    """Why this bot may not start on the user's plan (hosted bots need a paid plan)."""
    if surface != "hosted":
        return None
    refused = check_hosted((await billing_store.usage(conn, user_id)).tier)
    return None if refused is None else refused.message
