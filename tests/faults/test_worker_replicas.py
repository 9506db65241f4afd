"""Two API replicas and three worker replicas (real processes) share a burst of intents; the
worker projecting them (the lifecycle lease holder) is SIGKILLed mid-burst. Its lease lapses, a
survivor takes the projection over under a newer fencing token, and every intent is done exactly
once, each bot's in order: the burst published on the bus, and the bots users manage meanwhile
through both API replicas (a request to one, the next to the other)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from contracts.intents import BotIntent
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import EVENTS, LIFECYCLE, intent_subject
from tests.busutil import messages_on
from tests.conftest import VALID_PROFILE, signup_and_login, wait_for
from tests.controlplane import ControlPlane, replica_envs
from tests.faults.test_worker_kill import WorkerProcess
from tests.intentburst import (
    assert_done_once,
    assert_done_once_in_order,
    mixed_burst,
    settled,
    team_users,
    wait_all_settled,
    wait_intents_settled,
)

USERS = 10
API_USERS = 4
BURST = 4_000
REPLICAS = 3


@dataclass
class ApiUsers:
    """What users asked of the API replicas: each accepted intent, and each bot's expected events."""

    intents: list[str] = field(default_factory=list)
    bots: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def _accepted(users: ApiUsers, response: httpx.Response) -> str:
    assert response.status_code == 202, f"{response.request.method} {response.request.url.path}: {response.text}"
    users.intents.append(response.json()["intent_id"])
    return str(response.json().get("bot_id", ""))


async def _manage_bots(apis: list[httpx.AsyncClient], users: ApiUsers) -> None:
    """New users one after another, each through both replicas in turn."""
    while not users.stop.is_set():
        await _manage_a_bot(*apis, users)
        apis.reverse()


async def _manage_a_bot(a: httpx.AsyncClient, b: httpx.AsyncClient, users: ApiUsers) -> None:
    """Sign up, then create, start, stop and delete a bot: each request to the other replica."""
    auth = await signup_and_login(a)
    bot_id = _accepted(users, await b.post("/api/v1/bots", json=VALID_PROFILE, headers=auth))

    async def projected() -> bool:  # a bot's own page answers once its creation is carried out
        return (await a.get(f"/api/v1/bots/{bot_id}", headers=auth)).status_code == 200

    await wait_for(projected, timeout_s=120, interval_s=0.2, what=f"bot {bot_id} to exist")
    _accepted(users, await b.post(f"/api/v1/bots/{bot_id}/start", headers=auth))
    _accepted(users, await a.post(f"/api/v1/bots/{bot_id}/stop", headers=auth))
    _accepted(users, await b.delete(f"/api/v1/bots/{bot_id}", headers=auth))
    users.bots.append(bot_id)


@pytest.fixture
def api_replicas(api_settings: ApiSettings, tmp_path: Path) -> Iterator[list[ControlPlane]]:
    api_env, _ = replica_envs(api_settings)
    planes = [ControlPlane(api_env, tmp_path / name) for name in ("api-a", "api-b")]
    for plane in planes:
        plane.home.mkdir()
    yield planes
    for plane in planes:
        plane.kill_all()


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
    replicas: list[WorkerProcess],
    api_replicas: list[ControlPlane],
    api: httpx.AsyncClient,
    bus: Bus,
    db: asyncpg.Connection,
) -> None:
    await asyncio.gather(*(plane.start_api() for plane in api_replicas))
    user_ids = await team_users(api, db, USERS)
    burst = mixed_burst(user_ids, BURST)
    first_event = (await bus.js.stream_info(EVENTS.name)).state.last_seq + 1

    users = ApiUsers()
    async with contextlib.AsyncExitStack() as stack:
        apis = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=p.api_url, timeout=60)) for p in api_replicas
        ]
        managing = [asyncio.create_task(_manage_bots(list(apis), users)) for _ in range(API_USERS)]
        try:
            await _burst_with_a_kill(replicas, burst, user_ids, db, bus)
        finally:
            users.stop.set()
            await asyncio.gather(*managing)

    await wait_all_settled(db, user_ids, BURST, timeout_s=300)
    await assert_done_once_in_order(db, bus, burst, first_event)
    assert users.bots, "no user managed a bot through the API replicas meanwhile"
    await wait_intents_settled(db, users.intents, timeout_s=120)
    await assert_done_once(db, users.intents)
    for bot_id in users.bots:
        stored = await messages_on(bus.js, EVENTS.name, f"events.bot.{bot_id}.*")
        events = [subject.split(".")[3] for subject, _ in stored]
        assert events == ["created", "started", "stopped", "deleted"], bot_id


async def _burst_with_a_kill(
    replicas: list[WorkerProcess], burst: list[BotIntent], user_ids: list[uuid.UUID], db: asyncpg.Connection, bus: Bus
) -> None:
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
