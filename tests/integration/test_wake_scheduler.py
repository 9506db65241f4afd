"""The workers' scale-to-zero scheduler end to end: the API on a real port, the workers with an
injected clock, the Fly Machines emulator running the real boot entrypoint, the trader, the bus,
audit ingest and Postgres. Moving the clock past a session close wakes each sleeping bot once."""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from fly.models import Machine
from store import wakes
from tests.apiserver import serve_api
from tests.conftest import FLY_TOKEN, TEST_ACK_WAIT_S, VALID_PROFILE, intent_settled, wait_for
from workers import hosting
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings
from workers.wake_schedule import next_close
from workers.waker import WakeScheduler, wake_id_for

RUN_S = 240.0  # one --once run on a loaded 2-core machine: boot, warm-up, one decision, exit
AFTER_WAKE_TIME = timedelta(minutes=16)  # the scheduler wakes 15 minutes after the close

SLEEPING_PROFILE: dict[str, Any] = copy.deepcopy(VALID_PROFILE)
SLEEPING_PROFILE["basics"] = {"name": "Sleeping bot", "surface": "hosted", "mode": "paper"}
SLEEPING_PROFILE["model"] = {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150}
SLEEPING_PROFILE["strategy"] = {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10}
SLEEPING_PROFILE["schedule"] = {"run": "after_close", "confirmed": True}  # stock, daily bars: scales to zero


@dataclass
class MovableClock:
    """The workers' "now": real time, shifted when a test moves it (it keeps running, so retries come due)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move_to(self, when: datetime) -> None:
        self.offset = when - datetime.now(UTC)


@dataclass
class Cloud:
    api: httpx.AsyncClient
    settings: WorkerSettings
    clock: MovableClock
    workers: list[WorkerRuntime]  # the running one last

    @property
    def scheduler(self) -> WakeScheduler:
        hosted = self.workers[-1].hosting
        assert hosted is not None and hosted.scheduler is not None, "hosting (and its scheduler) is not running"
        return hosted.scheduler

    async def restart_workers(self) -> None:
        await self.workers[-1].stop()
        self.workers.append(await start_workers(self.settings, clock=self.clock))


@pytest.fixture
async def cloud(
    api_settings: ApiSettings,
    emulator: FlyEmulator,
    machine_key_dir: Path,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cloud]:
    """The API on a real port and workers, on a clock the test moves, that launch hosted bots on the emulator."""
    monkeypatch.setenv("FLY_API_TOKEN", FLY_TOKEN)
    monkeypatch.setenv("FLY_API_HOSTNAME", emulator.url)
    monkeypatch.setenv("FLY_APP_NAME", emulator.app_name)
    # The session's Postgres still holds earlier tests' hosted bots as running; moving this clock
    # past a close would wake them too, on this test's emulator. Retire them first.
    await db.execute("UPDATE bots SET status = 'stopped' WHERE surface = 'hosted' AND status = 'running'")
    clock = MovableClock()
    async with serve_api(api_settings) as url:
        settings = WorkerSettings(
            NATS_URL=api_settings.nats_url,
            DATABASE_URL=api_settings.database_url,
            HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
            HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
            HMMTRADE_BOT_API_URL=url,
            HMMTRADE_HOSTED_REPLAY_PACE=25,
            HMMTRADE_WAKE_POLL_S=0.2,  # the clock jumps: look at it often
        )
        runtimes = [await start_workers(settings, clock=clock)]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Cloud(client, settings, clock, runtimes)
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                await runtime.stop()


async def _user(api: httpx.AsyncClient, db: asyncpg.Connection) -> dict[str, str]:
    email = f"wake-{uuid.uuid4().hex[:10]}@example.com"
    creds = {"email": email, "password": "correct horse battery"}
    assert (await api.post("/api/v1/auth/signup", json=creds)).status_code == 201
    await db.execute("UPDATE users SET tier = 'pro' WHERE email = $1", email)
    login = await api.post("/api/v1/auth/login", json=creds)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _audit(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/bots/{bot_id}/audit?limit=1000", headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


async def _audit_count(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str, n: int) -> list[Any] | None:
    records = await _audit(api, auth, bot_id)
    return records if len(records) >= n else None


async def _sleeping_bot(cloud: Cloud, fly: FlyMachines, auth: dict[str, str]) -> str:
    """A new scale-to-zero bot after its first run (on creation): one decision, machine stopped."""
    created = await cloud.api.post("/api/v1/bots", json=SLEEPING_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = str(created.json()["bot_id"])
    [first] = await wait_for(lambda: _machines(fly, bot_id), timeout_s=60, what="the first machine")
    await fly.wait(first.id, "stopped", timeout_s=RUN_S)
    await wait_for(lambda: _audit_count(cloud.api, auth, bot_id, 1), timeout_s=60, what="the first decision")
    return bot_id


async def _machines(fly: FlyMachines, bot_id: str, **metadata: str) -> list[Machine] | None:
    return await fly.list(metadata={"bot_id": bot_id, **metadata}) or None


async def _wakes(db: asyncpg.Connection, bot_id: str, n: int) -> list[tuple[datetime, str]] | None:
    recorded = await wakes.wakes_of(db, uuid.UUID(bot_id))
    return recorded if len(recorded) >= n else None


async def _ticks_pass(cloud: Cloud, n: int = 2) -> None:
    """Wait until the scheduler has looked at the clock ``n`` more times (the first may have begun before a move)."""
    scheduler = cloud.scheduler
    target = scheduler.ticks + n

    async def ticked() -> bool:
        return scheduler.ticks >= target

    await wait_for(ticked, timeout_s=30, what=f"{n} scheduler ticks")


async def _woken_run(fly: FlyMachines, bot_id: str, wake_id: str) -> Machine:
    """The one machine launched for ``wake_id``, once its run is over."""
    [machine] = await wait_for(
        lambda: _machines(fly, bot_id, **{hosting.LAUNCH_KEY: wake_id}), timeout_s=60, what=f"a machine for {wake_id}"
    )
    await fly.wait(machine.id, "stopped", timeout_s=RUN_S)
    return machine


async def test_the_scheduler_wakes_a_sleeping_bot_once_per_close_across_ticks_restarts_and_an_outage(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines
) -> None:
    api = cloud.api
    auth = await _user(api, db)
    bot_id = await _sleeping_bot(cloud, fly, auth)
    await _ticks_pass(cloud)
    assert await wakes.wakes_of(db, uuid.UUID(bot_id)) == []  # created after the last close: nothing due yet

    # The clock passes the next close and its wake time: one wake, one machine, one new decision.
    close = next_close("XNYS", datetime.now(UTC))
    cloud.clock.move_to(close + AFTER_WAKE_TIME)
    [(recorded_close, wake_id)] = await wait_for(lambda: _wakes(db, bot_id, 1), timeout_s=60, what="the first wake")
    assert (recorded_close, wake_id) == (close, wake_id_for(bot_id, close))
    woken = await _woken_run(fly, bot_id, wake_id)
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [woken.id]  # replaced, not added
    records = await wait_for(lambda: _audit_count(api, auth, bot_id, 2), timeout_s=60, what="the woken decision")
    assert [r["seq"] for r in records] == [1, 2]

    # Later in the same session: nothing more to do.
    cloud.clock.move_to(close + timedelta(hours=3))
    await _ticks_pass(cloud)
    assert len(await wakes.wakes_of(db, uuid.UUID(bot_id))) == 1
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [woken.id]
    assert (await fly.get(woken.id)).state == "stopped"

    # Workers restarted: the new scheduler knows the close is done from the table, not from memory.
    await cloud.restart_workers()
    await _ticks_pass(cloud)
    assert len(await wakes.wakes_of(db, uuid.UUID(bot_id))) == 1
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [woken.id]

    # The scheduler "was down" over three closes: one catch-up wake, for the latest.
    skipped = [next_close("XNYS", close)]
    skipped.append(next_close("XNYS", skipped[-1]))
    latest = next_close("XNYS", skipped[-1])
    cloud.clock.move_to(latest + AFTER_WAKE_TIME)
    recorded = await wait_for(lambda: _wakes(db, bot_id, 2), timeout_s=60, what="the catch-up wake")
    assert recorded == [(close, wake_id), (latest, wake_id_for(bot_id, latest))]
    caught_up = await _woken_run(fly, bot_id, wake_id_for(bot_id, latest))
    records = await wait_for(lambda: _audit_count(api, auth, bot_id, 3), timeout_s=60, what="the catch-up decision")
    await _ticks_pass(cloud)
    assert len(await wakes.wakes_of(db, uuid.UUID(bot_id))) == 2
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [caught_up.id]

    records = await _audit(api, auth, bot_id)
    assert [r["seq"] for r in records] == [1, 2, 3]  # exactly one decision a wake
    days = [r["detail"]["bar"]["date"] for r in records]
    assert days == sorted(days) and len(set(days)) == 3  # one new bar each, none twice


async def test_two_worker_replicas_wake_a_bot_once_and_a_survivor_takes_the_schedule_over(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines
) -> None:
    """Both replicas run hosting; the wake scheduler runs on the one holding its lease. Before
    leases, each replica woke the bot: two machines for one close."""
    api = cloud.api
    auth = await _user(api, db)
    bot_id = await _sleeping_bot(cloud, fly, auth)
    cloud.workers.insert(0, await start_workers(cloud.settings, clock=cloud.clock))  # stopped at teardown
    replicas = [runtime.hosting for runtime in (cloud.workers[0], cloud.workers[-1])]
    assert all(hosted is not None for hosted in replicas)

    async def scheduling() -> list[Any] | None:
        held = [h for h in replicas if h is not None and h.singletons[0].held]
        return held if len(held) == 1 else None

    [holder] = await wait_for(scheduling, timeout_s=30, what="one replica to hold the wake schedule")
    close = next_close("XNYS", datetime.now(UTC))
    cloud.clock.move_to(close + AFTER_WAKE_TIME)
    [(_, wake_id)] = await wait_for(lambda: _wakes(db, bot_id, 1), timeout_s=60, what="the wake")
    woken = await _woken_run(fly, bot_id, wake_id)
    assert holder.scheduler is not None
    target = holder.scheduler.ticks + 2
    await wait_for(lambda: _at_least(holder.scheduler.ticks, target), timeout_s=30, what="two more ticks")
    assert len(await wakes.wakes_of(db, uuid.UUID(bot_id))) == 1
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [woken.id]  # one machine, not two

    # The holder's replica goes away: the other takes the schedule over and wakes the next close, once.
    [runtime] = [r for r in cloud.workers if r.hosting is holder]
    await runtime.stop()
    [survivor] = await wait_for(scheduling, timeout_s=30, what="the other replica to take the schedule")
    assert survivor is not holder
    following = next_close("XNYS", close)
    cloud.clock.move_to(following + AFTER_WAKE_TIME)
    recorded = await wait_for(lambda: _wakes(db, bot_id, 2), timeout_s=60, what="the survivor's wake")
    assert recorded == [(close, wake_id), (following, wake_id_for(bot_id, following))]
    second = await _woken_run(fly, bot_id, wake_id_for(bot_id, following))
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [second.id]


async def _at_least(value: int, target: int) -> bool | None:
    return True if value >= target else None


async def test_stopped_and_deleted_bots_are_not_woken(cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines) -> None:
    api = cloud.api
    auth = await _user(api, db)
    awake, stopped, deleted = [await _sleeping_bot(cloud, fly, auth) for _ in range(3)]
    [stopped_machine] = await fly.list(metadata={"bot_id": stopped})

    stop = await api.post(f"/api/v1/bots/{stopped}/stop", headers=auth)
    assert (await intent_settled(api, auth, stop.json()["intent_id"]))["status"] == "done"
    delete = await api.delete(f"/api/v1/bots/{deleted}", headers=auth)
    assert (await intent_settled(api, auth, delete.json()["intent_id"]))["status"] == "done"
    await wait_for(lambda: _status_is(api, auth, stopped, "stopped"), timeout_s=30, what="the bot to be stopped")
    await wait_for(lambda: _gone(fly, deleted), timeout_s=60, what="the deleted bot's machine to go")

    close = next_close("XNYS", datetime.now(UTC))
    cloud.clock.move_to(close + AFTER_WAKE_TIME)
    [(_, wake_id)] = await wait_for(lambda: _wakes(db, awake, 1), timeout_s=60, what="the running bot's wake")
    await _woken_run(fly, awake, wake_id)  # the scheduler did act on this close
    await _ticks_pass(cloud)

    assert await wakes.wakes_of(db, uuid.UUID(stopped)) == []
    assert await wakes.wakes_of(db, uuid.UUID(deleted)) == []
    assert [m.id for m in await fly.list(metadata={"bot_id": stopped})] == [stopped_machine.id]
    assert await fly.list(metadata={"bot_id": deleted}) == []
    assert len(await _audit(api, auth, stopped)) == 1


async def test_a_wake_due_while_the_last_run_is_still_going_waits_for_it_instead_of_cutting_it_short(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines
) -> None:
    api = cloud.api
    auth = await _user(api, db)
    created = await api.post("/api/v1/bots", json=SLEEPING_PROFILE, headers=auth)
    bot_id = str(created.json()["bot_id"])
    [first] = await wait_for(lambda: _machines(fly, bot_id), timeout_s=60, what="the first machine")
    close = next_close("XNYS", datetime.now(UTC))
    cloud.clock.move_to(close + AFTER_WAKE_TIME)  # due while the first run is still warming up

    [(_, wake_id)] = await wait_for(lambda: _wakes(db, bot_id, 1), timeout_s=RUN_S, what="the wake")
    await _woken_run(fly, bot_id, wake_id)
    records = await wait_for(lambda: _audit_count(api, auth, bot_id, 2), timeout_s=60, what="both decisions")
    assert [r["seq"] for r in records] == [1, 2]  # the first run finished its decision before the wake replaced it
    assert len({r["detail"]["bar"]["date"] for r in records}) == 2
    assert first.id not in [m.id for m in await fly.list(metadata={"bot_id": bot_id})]


async def _status_is(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str, status: str) -> bool:
    return bool((await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()["status"] == status)


async def _gone(fly: FlyMachines, bot_id: str) -> bool:
    return await fly.list(metadata={"bot_id": bot_id}) == []
