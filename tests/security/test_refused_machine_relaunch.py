"""A hosted machine that boots again from its spent single-use bootstrap (a Fly restart, the
emulator restarting its machines) exits 3; the hosting worker relaunches the bot on a new
machine with a fresh bootstrap, a bounded number of times in a row, then fails it with the reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from store import bots
from store.pool import create_pool
from tests.conftest import FLY_TOKEN, intent_settled, wait_for
from tests.flyutil import exits_with, machine_config
from tests.hostedstack import Cloud, hosted_cloud
from tests.hostedutil import HOSTED_PROFILE, bot_view, hosted_user
from workers.app import WorkerRuntime
from workers.hosting_app import build_hosting_deps
from workers.hosting_watch import BOOT_REFUSED_EXIT, RELAUNCHES_KEY, refused_at_boot, relaunch_refused
from workers.settings import WorkerSettings


@pytest.fixture
async def cloud(
    api_settings: ApiSettings, emulator: FlyEmulator, machine_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    monkeypatch.setenv("HMMTRADE_MACHINE_WATCH_S", "0.5")  # the workers' relaunch watch sweeps often
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch) as running:
        yield running


async def _exchanged(db: asyncpg.Connection, bot_id: str, count: int) -> int | None:
    done = await db.fetchval(
        "SELECT count(*) FROM machine_bootstraps WHERE bot_id = $1 AND exchanged_at IS NOT NULL", uuid.UUID(bot_id)
    )
    return int(done) if done >= count else None


async def test_a_machine_rebooted_from_its_spent_bootstrap_is_relaunched_with_a_fresh_one(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, emulator: FlyEmulator
) -> None:
    api = cloud.api
    auth = await hosted_user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()["bot_id"]
    await wait_for(lambda: _exchanged(db, bot_id, 1), timeout_s=90, what="the first machine's bootstrap exchange")
    [first] = await fly.list(metadata={"bot_id": bot_id})

    # What a Fly host restart does: the same machine, the same config, booted again.
    await fly.stop(first.id)
    await fly.wait(first.id, "stopped", timeout_s=60)
    await fly.start(first.id)

    async def replaced() -> list[Any] | None:
        machines = await fly.list(metadata={"bot_id": bot_id})
        return machines if machines and machines[0].id != first.id else None

    [second] = await wait_for(replaced, timeout_s=90, what="the bot relaunched on a new machine")
    assert "bootstrap is invalid, expired or already used" in emulator.log_path(first.id).read_text()
    assert second.config.metadata[RELAUNCHES_KEY] == "1"
    assert second.config.env["HMMTRADE_MACHINE_BOOTSTRAP"] != first.config.env["HMMTRADE_MACHINE_BOOTSTRAP"]
    await wait_for(lambda: _exchanged(db, bot_id, 2), timeout_s=90, what="the new machine's bootstrap exchange")
    bot = await bot_view(api, auth, bot_id)
    assert bot["status"] == "running", bot


async def test_a_bot_whose_machines_keep_being_refused_is_failed_with_the_reason_not_relaunched(
    api: httpx.AsyncClient,
    api_settings: ApiSettings,
    db: asyncpg.Connection,
    fly: FlyMachines,
    machine_key_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: FlyEmulator,
    workers: WorkerRuntime,  # the lifecycle projection records the bot (no hosting: no Fly settings)
) -> None:
    auth = await hosted_user(api, db, "pro")
    created = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()
    assert (await intent_settled(api, auth, created["intent_id"]))["status"] == "done"
    bot_id = created["bot_id"]
    # a machine already relaunched twice, whose boot is refused again (the third in a row)
    config = machine_config(exits_with(BOOT_REFUSED_EXIT), bot_id=bot_id)
    config = config.model_copy(update={"metadata": {**config.metadata, RELAUNCHES_KEY: "2"}})
    refused = await fly.create(config)
    await fly.wait(refused.id, "stopped", timeout_s=60)
    assert refused_at_boot(await fly.get(refused.id))

    # the hosting deps as the workers build them (their Fly settings come from the environment)
    monkeypatch.setenv("FLY_API_TOKEN", FLY_TOKEN)
    monkeypatch.setenv("FLY_API_HOSTNAME", emulator.url)
    monkeypatch.setenv("FLY_APP_NAME", emulator.app_name)
    settings = WorkerSettings(
        NATS_URL=api_settings.nats_url,
        DATABASE_URL=api_settings.database_url,
        HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
        HMMTRADE_BOT_API_URL="http://127.0.0.1:9",  # never called: no machine boots the real entrypoint here
    )
    pool = await create_pool(api_settings.database_url, max_size=2)
    bus = Bus(api_settings.nats_url, name="test-relaunch")
    await bus.start(wait_s=5)
    try:
        await bots.set_machine(pool, uuid.UUID(bot_id), refused.id, status="running")
        async with httpx.AsyncClient() as http:
            deps = build_hosting_deps(settings, pool=pool, bus=bus, http=http)
            [outcome] = await relaunch_refused(deps, max_relaunches=2)
            assert outcome.new_machine_id is None and outcome.refused_machine_id == refused.id
            assert await relaunch_refused(deps, max_relaunches=2) == []  # a failed bot is left alone
    finally:
        await bus.close()
        await pool.close()
    bot = await bot_view(api, auth, bot_id)
    assert bot["status"] == "failed" and "refused at boot 3 times in a row" in bot["status_reason"]
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [refused.id]  # no new machine
