"""Three worker replicas (real processes) share a burst of intents; the one projecting them (the
lifecycle lease holder) is SIGKILLed mid-burst. Its lease lapses, a survivor takes the projection
over under a newer fencing token, and every intent is done exactly once, each bot's in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from events.bus import Bus
from events.embedded import NatsServer
from events.topology import EVENTS, LIFECYCLE, intent_subject
from tests.conftest import wait_for
from tests.faults.test_worker_kill import WorkerProcess
from tests.intentburst import assert_done_once_in_order, mixed_burst, settled, team_users, wait_all_settled

USERS = 10
BURST = 4_000
REPLICAS = 3


@pytest.fixture
def replicas(nats_server: NatsServer, pg_dsn: str, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    workers = [WorkerProcess(nats_server.url, pg_dsn, tmp_path / f"worker-{i}.log") for i in range(REPLICAS)]
    yield workers
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)


async def _lifecycle_holder(db: asyncpg.Connection, among: set[int]) -> int | None:
    """The pid of the replica projecting intents, once it is one of ``among``."""
    holder = await db.fetchval("SELECT holder FROM singleton_fences WHERE name = $1", LIFECYCLE.durable)
    pid = int(holder.split(":")[1]) if holder else None  # holder: host:pid:nonce
    return pid if pid in among else None


async def test_a_worker_replica_killed_mid_burst_hands_over_and_nothing_is_lost_or_doubled(
    replicas: list[WorkerProcess], api: httpx.AsyncClient, bus: Bus, db: asyncpg.Connection
) -> None:
    user_ids = await team_users(api, db, USERS)
    burst = mixed_burst(user_ids, BURST)
    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1
    pids = {worker.process.pid for worker in replicas}
    pid = await wait_for(lambda: _lifecycle_holder(db, pids), timeout_s=120, what="a replica to project")

    half = len(burst) // 2
    for chunk in range(0, half, 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))

    async def some_done() -> bool:
        return await settled(db, user_ids) > 0

    await wait_for(some_done, timeout_s=60, what="the holder to be mid-burst")
    [holder] = [w for w in replicas if w.process.pid == pid]
    holder.kill9()
    for chunk in range(half, len(burst), 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))
    survivors = pids - {pid}
    await wait_for(lambda: _lifecycle_holder(db, survivors), timeout_s=60, what="a survivor to take over")

    await wait_all_settled(db, user_ids, BURST, timeout_s=300)
    await assert_done_once_in_order(db, bus, burst, first_event)
