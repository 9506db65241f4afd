"""Billing test data: users whose subscriptions ended while they had hosted bots."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg

from tests.conftest import VALID_PROFILE


async def canceled_user_with_hosted_bots(db: asyncpg.Connection, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A pro user whose subscription Stripe reports canceled, with ``count`` hosted bots starting."""
    user_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO users (id, email, password_hash, tier) VALUES ($1, $2, 'x', 'pro')",
        user_id,
        f"{user_id.hex[:12]}@example.com",
    )
    await db.execute(
        "INSERT INTO subscriptions (id, user_id, customer_id, plan, stripe_status, state, last_event_id)"
        " VALUES ($1, $2, 'cus_x', 'pro', 'canceled', 'canceled', 'evt_x')",
        f"sub_{user_id.hex[:12]}",
        user_id,
    )
    profile = json.dumps({**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "surface": "hosted"}})
    bots = [uuid.uuid4() for _ in range(count)]
    for n, bot_id in enumerate(bots):
        await db.execute(
            "INSERT INTO bots (id, user_id, name, surface, mode, status, profile, created_at)"
            " VALUES ($1, $2, 'b', 'hosted', 'paper', 'starting', $3::jsonb, $4)",
            bot_id,
            user_id,
            profile,
            datetime(2026, 1, 1 + n, tzinfo=UTC),
        )
    return user_id, bots
