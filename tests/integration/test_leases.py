"""Singletons by lease on a real nats-server and Postgres: one holder at a time, handover when the
holder dies (its lease lapses after the bucket's TTL), and a stale holder's writes refused by the
fence even when it still believes it holds the lease."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from events.bus import Bus
from events.embedded import NatsServer
from events.topology import LEASE_BUCKET, ensure_topology
from store import fences
from store.pool import create_pool
from tests.conftest import wait_for
from workers.lease import Fence, FenceLost, Singleton

TTL_S = 2.0


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def leases_bus(bus: Bus) -> Bus:
    await ensure_topology(bus.js, lease_ttl_s=TTL_S)
    return bus


class Recorder:
    """A job that notes which replica ran it, under which token, until it is cancelled."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.running: set[str] = set()

    def job(self, who: str):  # type: ignore[no-untyped-def]
        async def run(fence: Fence) -> None:
            self.runs.append((who, fence.token))
            self.running.add(who)
            try:
                await asyncio.Event().wait()
            finally:
                self.running.discard(who)

        return run


async def test_one_replica_runs_the_job_and_a_standby_takes_over_when_it_dies(
    leases_bus: Bus, nats_server: NatsServer, pool: asyncpg.Pool
) -> None:
    name = f"job-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    buses = {who: Bus(nats_server.url, name=f"replica-{who}") for who in "abc"}  # a connection each
    for bus in buses.values():
        await bus.start(wait_s=5)
    replicas = {who: Singleton(buses[who], pool, name, recorder.job(who), holder=who, poll_s=0.1) for who in "abc"}
    for singleton in replicas.values():
        singleton.start()

    async def one_holder() -> str | None:
        held = [who for who, s in replicas.items() if s.held]
        return held[0] if len(held) == 1 and recorder.running == set(held) else None

    first = await wait_for(one_holder, timeout_s=15, what="one replica to hold the lease")
    for _ in range(3):  # standbys keep trying meanwhile: still exactly one
        await asyncio.sleep(TTL_S / 2)
        assert [who for who, s in replicas.items() if s.held] == [first] and recorder.running == {first}

    # The holder dies without a word: its connection is gone, so it can neither renew nor let go;
    # the others wait for the lease to lapse.
    dead = replicas.pop(first)
    await buses[first].close()
    assert dead._task is not None
    dead._task.cancel()
    dead.fence = None
    assert (await (await leases_bus.js.key_value(LEASE_BUCKET)).get(name)).value  # still held by the dead
    second = await wait_for(one_holder, timeout_s=15, what="a standby to take over after the TTL")
    assert second != first
    [(_, first_token), (who, second_token)] = recorder.runs
    assert who == second and second_token > first_token  # fencing tokens only grow
    assert await pool.fetchval("SELECT holder FROM singleton_fences WHERE name = $1", name) == second
    for who, singleton in replicas.items():
        await singleton.stop()
        await buses[who].close()


async def test_a_holder_that_lets_go_is_replaced_at_once(leases_bus: Bus, pool: asyncpg.Pool) -> None:
    name = f"job-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    a = Singleton(leases_bus, pool, name, recorder.job("a"), holder="a", poll_s=0.1)
    a.start()
    await wait_for(lambda: _true(a.held), timeout_s=15, what="a to hold the lease")
    b = Singleton(leases_bus, pool, name, recorder.job("b"), holder="b", poll_s=0.1)
    b.start()
    await a.stop()  # a graceful shutdown deletes the key: b need not wait out the TTL
    await wait_for(lambda: _true(b.held), timeout_s=TTL_S * 0.9, what="b to take over before the TTL")
    assert [who for who, _ in recorder.runs] == ["a", "b"]
    await b.stop()


async def test_a_holder_keeps_its_job_running_once_when_the_lease_bucket_is_rebuilt(
    leases_bus: Bus, pool: asyncpg.Pool
) -> None:
    """The bus was rebuilt under a running replica (its lease bucket deleted and made anew): the
    replica, which reads the bucket once, notices and holds the lease under the new bucket's epoch."""
    name = f"job-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    a = Singleton(leases_bus, pool, name, recorder.job("a"), holder="a", poll_s=0.1)
    a.start()
    await wait_for(lambda: _true(a.held), timeout_s=15, what="a to hold the lease")
    assert a.fence is not None
    first = a.fence
    await leases_bus.js.delete_key_value(LEASE_BUCKET)
    await ensure_topology(leases_bus.js, lease_ttl_s=TTL_S)

    async def held_anew() -> bool:
        return a.fence is not None and a.fence.epoch > first.epoch

    await wait_for(held_anew, timeout_s=15, what="a to hold the lease of the new bucket")
    assert [who for who, _ in recorder.runs] == ["a", "a"] and recorder.running == {"a"}
    await a.stop()


async def test_a_stale_holders_side_effect_is_refused_and_waits_for_none(pool: asyncpg.Pool) -> None:
    """A replica paused past its TTL still believes it holds the lease: the fence refuses it."""
    name = f"fence-{uuid.uuid4().hex[:8]}"
    stale, current = Fence(name, 5), Fence(name, 9)
    async with pool.acquire() as conn:
        assert await fences.take(conn, name, 0, stale.token, "paused")
        assert await fences.take(conn, name, 0, current.token, "successor")
        assert not await fences.take(conn, name, 0, stale.token, "paused")  # an older token never comes back
        with pytest.raises(FenceLost):
            async with conn.transaction():
                await stale.check(conn)
        assert stale.lost.is_set()
        async with conn.transaction():
            await current.check(conn)  # the successor writes
        assert not current.lost.is_set()
        # The bus was rebuilt: its new lease bucket counts revisions from 1 again, and outranks the old.
        reborn = Fence(name, 1, epoch=1)
        assert await fences.take(conn, name, reborn.epoch, reborn.token, "after the rebuild")
        with pytest.raises(FenceLost):
            async with conn.transaction():
                await current.check(conn)


async def test_a_successor_waits_for_the_write_in_flight_under_the_old_token(pool: asyncpg.Pool) -> None:
    """The old holder checked its fence and is mid-write: the new holder's take waits for the
    commit, so the two never write interleaved."""
    name = f"fence-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await fences.take(conn, name, 0, 1, "old")
    order: list[str] = []
    checked = asyncio.Event()
    finish = asyncio.Event()

    async def old_write() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await Fence(name, 1).check(conn)
            checked.set()
            await finish.wait()
            order.append("old write committed")

    async def new_take() -> None:
        await checked.wait()
        async with pool.acquire() as conn:
            assert await fences.take(conn, name, 0, 2, "new")
        order.append("new holder took over")

    writer, taker = asyncio.create_task(old_write()), asyncio.create_task(new_take())

    async def take_blocked() -> bool | None:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO singleton_fences%'"
        )
        return True if waiting else None

    await wait_for(take_blocked, timeout_s=15, what="the new holder's take to wait on the row lock")
    assert not taker.done()
    finish.set()
    await asyncio.gather(writer, taker)
    assert order == ["old write committed", "new holder took over"]


async def _true(value: bool) -> bool | None:
    return True if value else None


class PoolAwayOnce:
    """A pool whose first checkout fails, as while Postgres restarts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.failures = 0

    def acquire(self) -> Any:
        if self.failures == 0:
            self.failures += 1
            raise ConnectionRefusedError("Postgres is restarting")
        return self._pool.acquire()


async def test_a_takeover_that_cannot_reach_postgres_lets_go_and_tries_again(
    leases_bus: Bus, pool: asyncpg.Pool
) -> None:
    name = f"job-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    away = PoolAwayOnce(pool)
    singleton = Singleton(leases_bus, cast(asyncpg.Pool, away), name, recorder.job("a"), holder="a", poll_s=0.1)
    singleton.start()
    await wait_for(lambda: _true(singleton.held), timeout_s=15, what="the lease once Postgres answers")
    assert away.failures == 1 and [who for who, _ in recorder.runs] == ["a"]
    await singleton.stop()
