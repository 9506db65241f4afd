"""The Postgres roster lists only running hosted bots that scale to zero, with the close of their last wake."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from store import bots, users, wakes
from store.pool import create_pool
from tests.conftest import VALID_PROFILE
from workers.wake_roster import PostgresRoster

SLEEPER: dict[str, Any] = copy.deepcopy(VALID_PROFILE)
SLEEPER["basics"] = {"name": "Sleeper", "surface": "hosted", "mode": "paper"}
SLEEPER["schedule"] = {"run": "after_close", "confirmed": True}
EVERY_BAR: dict[str, Any] = {**copy.deepcopy(SLEEPER), "schedule": {"run": "every_bar", "confirmed": True}}
CLOSE = datetime(2024, 3, 5, 21, tzinfo=UTC)


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=2)
    yield pool
    await pool.close()


async def _bot(pool: asyncpg.Pool, user_id: uuid.UUID, *, status: str, profile: dict[str, Any]) -> uuid.UUID:
    bot_id = uuid.uuid4()
    surface = profile["basics"]["surface"]
    await bots.insert_bot(
        pool, bot_id=bot_id, user_id=user_id, name="b", surface=surface, mode="paper", status=status, profile=profile
    )
    return bot_id


async def _listed(pool: asyncpg.Pool, ids: set[uuid.UUID]) -> dict[str, datetime | None]:
    return {b.bot_id: b.last_close for b in await PostgresRoster(pool).sleeping_bots() if uuid.UUID(b.bot_id) in ids}


async def test_only_running_hosted_after_close_stock_bots_are_on_the_roster(pool: asyncpg.Pool) -> None:
    user_id = uuid.uuid4()
    await users.create_user(pool, user_id=user_id, email=f"{user_id}@example.com", password_hash="x")
    sleeper = await _bot(pool, user_id, status="running", profile=SLEEPER)
    stopped = await _bot(pool, user_id, status="stopped", profile=SLEEPER)
    deleted = await _bot(pool, user_id, status="running", profile=SLEEPER)
    await bots.set_status(pool, deleted, "deleted")
    failed = await _bot(pool, user_id, status="failed", profile=SLEEPER)
    continuous = await _bot(pool, user_id, status="running", profile=EVERY_BAR)
    local = await _bot(pool, user_id, status="running", profile={**SLEEPER, "basics": VALID_PROFILE["basics"]})

    listed = await _listed(pool, {sleeper, stopped, deleted, failed, continuous, local})

    assert listed == {str(sleeper): None}


async def test_the_roster_remembers_each_bots_latest_wake_once_per_close(pool: asyncpg.Pool) -> None:
    user_id = uuid.uuid4()
    await users.create_user(pool, user_id=user_id, email=f"{user_id}@example.com", password_hash="x")
    bot_id = await _bot(pool, user_id, status="running", profile=SLEEPER)
    roster = PostgresRoster(pool)
    later = CLOSE + timedelta(days=1)

    await roster.record_wake(str(bot_id), CLOSE, "wake:a", CLOSE + timedelta(minutes=15))
    await roster.record_wake(str(bot_id), CLOSE, "wake:a", CLOSE + timedelta(minutes=16))  # a repeat: no second row
    await roster.record_wake(str(bot_id), later, "wake:b", later + timedelta(minutes=15))

    assert await wakes.wakes_of(pool, bot_id) == [(CLOSE, "wake:a"), (later, "wake:b")]
    assert await _listed(pool, {bot_id}) == {str(bot_id): later}
    [bot] = [b for b in await roster.sleeping_bots() if b.bot_id == str(bot_id)]
    assert bot.since == (await bots.get_bot(pool, bot_id)).created_at  # type: ignore[union-attr]
