"""Three worker replicas (real processes) share a burst of intents; the one projecting them (the
lifecycle lease holder) is SIGKILLed mid-burst. Its lease lapses, a survivor takes the projection
over under a newer fencing token, and every intent is done exactly once, each bot's in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from contracts.profile import BotProfile
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import EVENTS, LIFECYCLE, intent_subject
from tests.conftest import VALID_PROFILE, signup_and_login, wait_for
from tests.faults.test_worker_kill import WorkerProcess
from tests.integration.test_intent_burst import EVENT_OF, _stored_bot_events, _user_stream

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
    profile = BotProfile.model_validate(VALID_PROFILE)
    user_ids = []
    for _ in range(USERS):
        headers = await signup_and_login(api)
        user_ids.append(uuid.UUID((await api.get("/api/v1/me", headers=headers)).json()["id"]))
    await db.execute("UPDATE users SET tier = 'team' WHERE id = ANY($1::uuid[])", user_ids)
    streams = [_user_stream(user_id, profile, BURST // USERS) for user_id in user_ids]
    burst = [intent for round_ in zip(*streams, strict=True) for intent in round_]
    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1
    pids = {worker.process.pid for worker in replicas}
    pid = await wait_for(lambda: _lifecycle_holder(db, pids), timeout_s=120, what="a replica to project")

    half = len(burst) // 2
    for chunk in range(0, half, 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))

    async def some_done() -> bool:
        done = await db.fetchval(
            "SELECT count(*) FROM intents WHERE user_id = ANY($1::uuid[]) AND status <> 'accepted'", user_ids
        )
        return bool(done)

    await wait_for(some_done, timeout_s=60, what="the holder to be mid-burst")
    [holder] = [w for w in replicas if w.process.pid == pid]
    holder.kill9()
    for chunk in range(half, len(burst), 500):
        await asyncio.gather(*(bus.publish(intent_subject(i.type), i) for i in burst[chunk : chunk + 500]))

    survivors = pids - {pid}
    await wait_for(lambda: _lifecycle_holder(db, survivors), timeout_s=60, what="a survivor to take over")

    async def all_settled() -> bool:
        settled = await db.fetchval(
            "SELECT count(*) FROM intents WHERE user_id = ANY($1::uuid[]) AND status <> 'accepted'", user_ids
        )
        return bool(settled == BURST)

    await wait_for(all_settled, timeout_s=300, interval_s=0.5, what=f"all {BURST} intents to settle")
    outcomes = await db.fetch(
        "SELECT status, count(*) AS n FROM intents WHERE user_id = ANY($1::uuid[]) GROUP BY status", user_ids
    )
    assert {row["status"]: row["n"] for row in outcomes} == {"done": BURST}
    ledger = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT message_id) AS distinct_ids FROM processed_messages"
        " WHERE consumer = 'lifecycle' AND message_id = ANY($1::text[])",
        [intent.id for intent in burst],
    )
    assert (ledger["n"], ledger["distinct_ids"]) == (BURST, BURST)
    expected: dict[str, list[str]] = {}
    for intent in burst:
        if intent.type in EVENT_OF:
            expected.setdefault(str(intent.bot_id), []).append(EVENT_OF[intent.type])
    seen: dict[str, Any] = await _stored_bot_events(bus, first_event, sum(map(len, expected.values())))
    assert seen == expected
