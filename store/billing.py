"""Billing read models: Stripe customers, the subscription mirror, tiers and bot usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.types import Executor


@dataclass(frozen=True)
class SubscriptionRow:
    id: str
    user_id: uuid.UUID
    customer_id: str
    plan: str
    stripe_status: str
    state: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None
    grace_expired_at: datetime | None
    last_event_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Usage:
    tier: str
    bots: int
    hosted_bots: int


def _sub(row: asyncpg.Record | None) -> SubscriptionRow | None:
    return None if row is None else SubscriptionRow(**{k: row[k] for k in SubscriptionRow.__dataclass_fields__})


async def customer_of(db: Executor, user_id: uuid.UUID) -> str | None:
    value = await db.fetchval("SELECT customer_id FROM billing_customers WHERE user_id = $1", user_id)
    return None if value is None else str(value)


async def save_customer(db: Executor, user_id: uuid.UUID, customer_id: str) -> str:
    """Remember the user's customer; if one was saved first (a concurrent request), that one wins."""
    await db.execute(
        "INSERT INTO billing_customers (user_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id,
        customer_id,
    )
    saved = await customer_of(db, user_id)
    assert saved is not None
    return saved


async def user_of_customer(db: Executor, customer_id: str) -> uuid.UUID | None:
    value = await db.fetchval("SELECT user_id FROM billing_customers WHERE customer_id = $1", customer_id)
    return None if value is None else uuid.UUID(str(value))


async def user_by_email(db: Executor, email: str) -> uuid.UUID | None:
    value = await db.fetchval("SELECT id FROM users WHERE lower(email) = lower($1)", email)
    return None if value is None else uuid.UUID(str(value))


async def user_exists(db: Executor, user_id: uuid.UUID) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id))


async def subscription_for_update(db: Executor, subscription_id: str) -> SubscriptionRow | None:
    return _sub(await db.fetchrow("SELECT * FROM subscriptions WHERE id = $1 FOR UPDATE", subscription_id))


async def upsert_subscription(
    db: Executor,
    *,
    subscription_id: str,
    user_id: uuid.UUID,
    customer_id: str,
    plan: str,
    stripe_status: str,
    state: str,
    current_period_end: datetime | None,
    cancel_at_period_end: bool,
    past_due_since: datetime | None,
    event_id: str,
) -> None:
    await db.execute(
        "INSERT INTO subscriptions (id, user_id, customer_id, plan, stripe_status, state, current_period_end,"
        " cancel_at_period_end, past_due_since, last_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (id) DO UPDATE SET plan = EXCLUDED.plan, stripe_status = EXCLUDED.stripe_status,"
        " state = EXCLUDED.state, current_period_end = EXCLUDED.current_period_end,"
        " cancel_at_period_end = EXCLUDED.cancel_at_period_end, past_due_since = EXCLUDED.past_due_since,"
        " grace_expired_at = CASE WHEN EXCLUDED.state = 'past_due' THEN subscriptions.grace_expired_at END,"
        " last_event_id = EXCLUDED.last_event_id, updated_at = now()",
        subscription_id,
        user_id,
        customer_id,
        plan,
        stripe_status,
        state,
        current_period_end,
        cancel_at_period_end,
        past_due_since,
        event_id,
    )


async def subscriptions_of(db: Executor, user_id: uuid.UUID) -> list[SubscriptionRow]:
    rows = await db.fetch("SELECT * FROM subscriptions WHERE user_id = $1 ORDER BY created_at, id", user_id)
    return [s for s in map(_sub, rows) if s is not None]


async def usage(db: Executor, user_id: uuid.UUID) -> Usage:
    """The user's tier as stored now (not cached) and their bots that count against it."""
    row = await db.fetchrow(
        "SELECT u.tier,"
        " (SELECT count(*) FROM bots b WHERE b.user_id = u.id AND b.deleted_at IS NULL) AS bots,"
        " (SELECT count(*) FROM bots b WHERE b.user_id = u.id AND b.deleted_at IS NULL AND b.surface = 'hosted')"
        " AS hosted FROM users u WHERE u.id = $1",
        user_id,
    )
    if row is None:
        return Usage("free", 0, 0)
    return Usage(str(row["tier"]), int(row["bots"]), int(row["hosted"]))


async def usage_unless_exists(db: Executor, user_id: uuid.UUID, bot_id: uuid.UUID) -> Usage | None:
    """The user's usage, or ``None`` when bot ``bot_id`` already exists (one round trip).

    Run it after :func:`lock_tier` in its own statement: a statement that locked the row
    itself would count with the snapshot it took before waiting for the lock.
    """
    row = await db.fetchrow(
        "SELECT u.tier, EXISTS (SELECT 1 FROM bots WHERE id = $2) AS known,"
        " (SELECT count(*) FROM bots b WHERE b.user_id = u.id AND b.deleted_at IS NULL) AS bots,"
        " (SELECT count(*) FROM bots b WHERE b.user_id = u.id AND b.deleted_at IS NULL AND b.surface = 'hosted')"
        " AS hosted FROM users u WHERE u.id = $1",
        user_id,
        bot_id,
    )
    if row is None:
        return Usage("free", 0, 0)
    if row["known"]:
        return None
    return Usage(str(row["tier"]), int(row["bots"]), int(row["hosted"]))


async def lock_tier(db: Executor, user_id: uuid.UUID) -> str | None:
    """The user's tier, locking their row: serialises tier changes and limit checks per user."""
    value = await db.fetchval("SELECT tier FROM users WHERE id = $1 FOR UPDATE", user_id)
    return None if value is None else str(value)


async def set_tier(db: Executor, user_id: uuid.UUID, tier: str) -> None:
    await db.execute("UPDATE users SET tier = $2, updated_at = now() WHERE id = $1 AND tier <> $2", user_id, tier)


async def hosted_bots(db: Executor, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The user's hosted bots that still exist (not deleted), oldest first."""
    rows = await db.fetch(
        "SELECT id FROM bots WHERE user_id = $1 AND surface = 'hosted' AND deleted_at IS NULL ORDER BY created_at, id",
        user_id,
    )
    return [uuid.UUID(str(r["id"])) for r in rows]


async def grace_ended(db: Executor, cutoff: datetime) -> list[SubscriptionRow]:
    """Past-due subscriptions whose grace period began before ``cutoff`` and was not ended yet."""
    rows = await db.fetch(
        "SELECT * FROM subscriptions WHERE state = 'past_due' AND grace_expired_at IS NULL AND past_due_since <= $1",
        cutoff,
    )
    return [s for s in map(_sub, rows) if s is not None]


async def mark_grace_expired(db: Executor, subscription_id: str, at: datetime) -> None:
    await db.execute(
        "UPDATE subscriptions SET grace_expired_at = $2, updated_at = now() WHERE id = $1 AND state = 'past_due'",
        subscription_id,
        at,
    )


async def tiers_of(db: Executor, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each user's plan in force now (users.tier)."""
    rows = await db.fetch("SELECT id, tier FROM users WHERE id = ANY($1::uuid[])", user_ids)
    return {row["id"]: row["tier"] for row in rows}


async def customers_of(db: Executor, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The Stripe customer of each of these users that has one."""
    rows = await db.fetch(
        "SELECT user_id, customer_id FROM billing_customers WHERE user_id = ANY($1::uuid[])", user_ids
    )
    return {row["user_id"]: row["customer_id"] for row in rows}
