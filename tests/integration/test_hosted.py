"""Hosted bots end to end: the API, the workers' hosting consumer, the Fly Machines emulator
running the real boot entrypoint, the trader, the bus and audit ingest, all on loopback."""

from __future__ import annotations

import itertools
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
from tests.conftest import intent_settled, wait_for
from tests.hostedstack import Cloud, hosted_cloud
from tests.hostedutil import (
    HOSTED_PROFILE,
    SLEEPING_PROFILE,
    audit_records,
    audit_through,
    bot_view,
    hosted_user,
    machines_of,
)
from workers import hosting
from workers.hosting_app import build_hosting_deps


@pytest.fixture
async def cloud(
    api_settings: ApiSettings, emulator: FlyEmulator, machine_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    """The API on a real port (machines call it) and workers that launch hosted bots on the emulator."""
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch) as running:
        yield running


async def test_a_hosted_bot_boots_on_its_machine_trades_stops_on_sigterm_and_is_destroyed_on_delete(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, emulator: FlyEmulator
) -> None:
    api = cloud.api
    auth = await hosted_user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]

    async def running() -> dict[str, Any] | None:
        bot = await bot_view(api, auth, bot_id)
        return bot if bot["status"] == "running" else None

    await wait_for(running, timeout_s=60, what="the bot to run on a machine")
    [machine] = await fly.list(metadata={"bot_id": bot_id})
    records = await wait_for(lambda: audit_records(api, auth, bot_id), timeout_s=240, what="the first audit record")
    assert records[0]["seq"] == 1

    stop = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
    assert stop.status_code == 202
    await fly.wait(machine.id, "stopped", timeout_s=90)
    log = emulator.log_path(machine.id).read_text()
    assert "SIGTERM received" in log and "stop requested" in log
    assert (await bot_view(api, auth, bot_id))["status"] == "stopped"
    last_logged = max(int(line.split("seq=")[1].split()[0]) for line in log.splitlines() if "seq=" in line)
    audit = await wait_for(
        lambda: audit_through(api, auth, bot_id, last_logged), timeout_s=30, what="the flushed audit in Postgres"
    )
    assert [r["seq"] for r in audit] == list(range(1, len(audit) + 1))

    deleted = await api.delete(f"/api/v1/bots/{bot_id}", headers=auth)
    assert deleted.status_code == 202
    assert (await intent_settled(api, auth, deleted.json()["intent_id"]))["status"] == "done"
    await wait_for(lambda: _gone(fly, bot_id), timeout_s=60, what="the machine to be destroyed")
    live = await db.fetchval(
        "SELECT count(*) FROM machine_tokens WHERE bot_id = $1 AND revoked_at IS NULL", uuid.UUID(bot_id)
    )
    assert live == 0


async def test_a_free_tier_hosted_bot_is_refused_up_front_and_a_downgraded_launch_fails_with_the_reason(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, pg_dsn: str
) -> None:
    api, settings = cloud.api, cloud.settings
    free = await hosted_user(api, db, "free")
    refused = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=free)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["field"] == "basics.surface" and "plan" in refused.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM bots b JOIN users u ON u.id = b.user_id"
                             " WHERE u.email LIKE 'hosted-%' AND u.tier = 'free'") == 0  # fmt: skip

    # The workers check again: a launch for a user who is no longer on a paid plan fails, with the reason.
    auth = await hosted_user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()["bot_id"]
    [machine] = await wait_for(lambda: machines_of(fly, bot_id), timeout_s=60, what="the machine")
    await db.execute("UPDATE users SET tier = 'free' FROM bots WHERE bots.user_id = users.id AND bots.id = $1",
                     uuid.UUID(bot_id))  # fmt: skip
    pool = await create_pool(pg_dsn, max_size=2)
    bus = Bus(settings.nats_url, name="test-hosting-tier")
    await bus.start(wait_s=5)
    async with httpx.AsyncClient() as http:
        row = await bots.get_bot(pool, uuid.UUID(bot_id))
        assert row is not None
        assert await hosting.launch(row, "a-start-after-the-downgrade", build_hosting_deps(
            settings, pool=pool, bus=bus, http=http)) is None  # fmt: skip
    await bus.close()
    await pool.close()
    bot = await bot_view(api, auth, bot_id)
    assert bot["status"] == "failed" and "pro or team plan" in bot["status_reason"]
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [machine.id]  # no new machine


async def _gone(fly: FlyMachines, bot_id: str) -> bool:
    return await fly.list(metadata={"bot_id": bot_id}) == []


async def test_a_redelivered_launch_finds_its_machine_and_a_new_launch_replaces_it(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, pg_dsn: str
) -> None:
    """A worker killed between the Fly create call and its ack gets the event again: still one machine."""
    api, settings = cloud.api, cloud.settings
    auth = await hosted_user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    bot_id = created.json()["bot_id"]
    [first] = await wait_for(lambda: machines_of(fly, bot_id), timeout_s=60, what="the first machine")
    pool = await create_pool(pg_dsn, max_size=2)
    bus = Bus(settings.nats_url, name="test-hosting")
    await bus.start(wait_s=5)
    async with httpx.AsyncClient() as http:
        deps = build_hosting_deps(settings, pool=pool, bus=bus, http=http)
        row = await bots.get_bot(pool, uuid.UUID(bot_id))
        assert row is not None
        launch_id = first.config.metadata[hosting.LAUNCH_KEY]
        for _ in range(3):  # the same event delivered again, three times
            again = await hosting.launch(row, launch_id, deps)
            assert again is not None and again.id == first.id
        assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [first.id]
        replaced = await hosting.launch(row, "a-later-start", deps)
        assert replaced is not None and replaced.id != first.id
        assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [replaced.id]
    await bus.close()
    await pool.close()


async def test_a_scale_to_zero_bot_woken_three_times_takes_one_new_bar_each_time_and_carries_its_state(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, pg_dsn: str
) -> None:
    api, settings = cloud.api, cloud.settings
    auth = await hosted_user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=SLEEPING_PROFILE, headers=auth)).json()["bot_id"]
    [first] = await wait_for(lambda: machines_of(fly, bot_id), timeout_s=60, what="the first machine")
    assert first.config.env["HMMTRADE_RUN_ONCE"] == "1" and first.config.restart.policy == "no"
    await fly.wait(first.id, "stopped", timeout_s=240)  # one run: warm-up, one decision, exit 0
    pool = await create_pool(pg_dsn, max_size=2)
    bus = Bus(settings.nats_url, name="test-waker")
    await bus.start(wait_s=5)
    async with httpx.AsyncClient() as http:
        deps = build_hosting_deps(settings, pool=pool, bus=bus, http=http)
        for day in (2, 3, 4):
            await wait_for(
                lambda n=day - 1: _audit_count(api, auth, bot_id, n), timeout_s=60, what=f"{day - 1} records"
            )
            row = await bots.get_bot(pool, uuid.UUID(bot_id))
            assert row is not None
            machine = await hosting.wake(row, f"wake-{day}", deps)
            assert machine is not None
            await fly.wait(machine.id, "stopped", timeout_s=240)
            repeated = await hosting.wake(row, f"wake-{day}", deps)  # the same wake again: nothing new runs
            assert repeated is not None and repeated.id == machine.id
            assert (await fly.get(machine.id)).state == "stopped"
    await bus.close()
    await pool.close()
    records = await wait_for(lambda: _audit_count(api, auth, bot_id, 4), timeout_s=60, what="four decisions")
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    days = [r["detail"]["bar"]["date"] for r in records]
    assert days == sorted(days) and len(set(days)) == 4  # one new trading day a wake, none twice
    order_ids = [o["client_order_id"] for r in records for o in r["detail"]["orders"]]
    assert len(order_ids) == len(set(order_ids))
    for before, after in itertools.pairwise(records):  # each wake's machine resumed the book where the last left it
        fills = after["detail"]["fills"]
        assert after["detail"]["position"] == pytest.approx(
            before["detail"]["position"] + sum(f["quantity"] * (1 if f["side"] == "buy" else -1) for f in fills)
        )


async def _audit_count(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str, n: int) -> list[Any] | None:
    records = await audit_records(api, auth, bot_id)
    return records if records and len(records) >= n else None
