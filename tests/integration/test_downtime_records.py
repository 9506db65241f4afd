"""The hosting worker's downtime records on a real Postgres: a wake Fly refuses at the close opens
the bot's downtime (cause ``wake``), one interval however often it is retried; a later launch
that gets through closes it; a bot its owner stopped is not down."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from fly.errors import FlyUnavailable
from store import bots, downtime, users
from store.pool import create_pool
from tests.hostedutil import SLEEPING_PROFILE
from workers.hosting import HostingDeps
from workers.wake_launcher import HostingLauncher


class FlyDown:
    async def find_by_bot(self, bot_id: str) -> Any:
        raise FlyUnavailable("service unavailable (emulated outage)", status=503, method="GET", path="/machines")


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=2)
    yield pool
    await pool.close()


async def _bot(pool: asyncpg.Pool, status: str) -> uuid.UUID:
    user_id, bot_id = uuid.uuid4(), uuid.uuid4()
    await users.create_user(pool, user_id=user_id, email=f"{user_id.hex[:10]}@example.com", password_hash="x")
    await bots.insert_bot(
        pool,
        bot_id=bot_id,
        user_id=user_id,
        name="Sleeper",
        surface="hosted",
        mode="paper",
        status=status,
        profile=SLEEPING_PROFILE,
    )
    return bot_id


async def test_a_wake_fly_refuses_opens_one_downtime_until_a_launch_gets_through(pool: asyncpg.Pool) -> None:
    bot_id = await _bot(pool, "running")
    launcher = HostingLauncher(cast(HostingDeps, type("Deps", (), {"pool": pool, "fly": FlyDown()})()))
    for _ in range(3):  # the scheduler retries the same close
        with pytest.raises(FlyUnavailable):
            await launcher.wake(str(bot_id), "wake-1")
    [interval] = await downtime.of_bot(pool, bot_id)
    assert (interval.cause, interval.ended_at) == ("wake", None)

    assert await downtime.close_downtime(pool, bot_id, at=interval.started_at)  # the next launch got through
    [closed] = await downtime.of_bot(pool, bot_id)
    assert closed.ended_at == closed.started_at  # never before it began


async def test_a_stopped_bot_missing_a_wake_is_not_down(pool: asyncpg.Pool) -> None:
    bot_id = await _bot(pool, "stopped")
    launcher = HostingLauncher(cast(HostingDeps, type("Deps", (), {"pool": pool, "fly": FlyDown()})()))
    with pytest.raises(FlyUnavailable):
        await launcher.wake(str(bot_id), "wake-1")
    assert await downtime.of_bot(pool, bot_id) == []
