"""Hosted bots end to end: the API, the workers' hosting consumer, the Fly Machines emulator
running the real boot entrypoint, the trader, the bus and audit ingest, all on loopback."""

from __future__ import annotations

import copy
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
from fly.backoff import RetryPolicy
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from store import bots
from store.pool import create_pool
from tests.conftest import VALID_PROFILE, intent_settled, wait_for
from tests.hostedstack import FLY_TOKEN, Cloud, hosted_cloud
from workers import hosting
from workers.app import start_workers
from workers.hosting_app import build_hosting_deps

TOKEN = FLY_TOKEN

HOSTED_PROFILE: dict[str, Any] = copy.deepcopy(VALID_PROFILE)
HOSTED_PROFILE["basics"] = {"name": "Hosted test bot", "surface": "hosted", "mode": "paper"}
HOSTED_PROFILE["model"] = {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150}
HOSTED_PROFILE["strategy"] = {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10}
HOSTED_PROFILE["schedule"] = {"run": "every_bar", "confirmed": True}  # runs on (after_close scales to zero)
SLEEPING_PROFILE: dict[str, Any] = {
    **copy.deepcopy(HOSTED_PROFILE),
    "schedule": {"run": "after_close", "confirmed": True},
}


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    async with FlyEmulator(token=TOKEN, data_dir=tmp_path / "fly") as emu:
        yield emu


@pytest.fixture
async def fly(emulator: FlyEmulator) -> AsyncIterator[FlyMachines]:
    async with httpx.AsyncClient() as http:
        yield FlyMachines(http, app_name=emulator.app_name, token=TOKEN, base_url=emulator.url,
                          retry=RetryPolicy(base_delay_s=0.05))  # fmt: skip


@pytest.fixture
async def cloud(
    api_settings: ApiSettings, emulator: FlyEmulator, machine_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    """The API on a real port (machines call it) and workers that launch hosted bots on the emulator."""
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch) as running:
        yield running


async def _user(api: httpx.AsyncClient, db: asyncpg.Connection, tier: str) -> dict[str, str]:
    email = f"hosted-{uuid.uuid4().hex[:10]}@example.com"
    creds = {"email": email, "password": "correct horse battery"}
    assert (await api.post("/api/v1/auth/signup", json=creds)).status_code == 201
    await db.execute("UPDATE users SET tier = $2 WHERE email = $1", email, tier)
    login = await api.post("/api/v1/auth/login", json=creds)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _bot(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> dict[str, Any]:
    return dict((await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json())


async def _audit(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> list[dict[str, Any]] | None:
    response = await api.get(f"/api/v1/bots/{bot_id}/audit?limit=1000", headers=auth)
    return list(response.json()["records"]) or None if response.status_code == 200 else None


async def test_a_hosted_bot_boots_on_its_machine_trades_stops_on_sigterm_and_is_destroyed_on_delete(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, emulator: FlyEmulator
) -> None:
    api = cloud.api
    auth = await _user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]

    async def running() -> dict[str, Any] | None:
        bot = await _bot(api, auth, bot_id)
        return bot if bot["status"] == "running" else None

    await wait_for(running, timeout_s=60, what="the bot to run on a machine")
    [machine] = await fly.list(metadata={"bot_id": bot_id})
    records = await wait_for(lambda: _audit(api, auth, bot_id), timeout_s=240, what="the first audit record")
    assert records[0]["seq"] == 1

    stop = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
    assert stop.status_code == 202
    await fly.wait(machine.id, "stopped", timeout_s=90)
    log = emulator.log_path(machine.id).read_text()
    assert "SIGTERM received" in log and "stop requested" in log
    assert (await _bot(api, auth, bot_id))["status"] == "stopped"
    last_logged = max(int(line.split("seq=")[1].split()[0]) for line in log.splitlines() if "seq=" in line)
    audit = await wait_for(
        lambda: _audit_through(api, auth, bot_id, last_logged), timeout_s=30, what="the flushed audit in Postgres"
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


async def test_a_free_tier_hosted_bot_fails_with_a_reason_and_no_machine(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines
) -> None:
    api = cloud.api
    auth = await _user(api, db, "free")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    if created.status_code != 202:  # the API may refuse it up front (billing limits): also a clear answer
        assert created.status_code in (402, 403, 409) and "plan" in created.text
        return
    bot_id = created.json()["bot_id"]

    async def failed() -> dict[str, Any] | None:
        bot = await _bot(api, auth, bot_id)
        return bot if bot["status"] == "failed" else None

    bot = await wait_for(failed, timeout_s=60, what="the bot to fail")
    assert "pro or team plan" in bot["status_reason"]
    assert await fly.list(metadata={"bot_id": bot_id}) == []


async def _audit_through(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str, seq: int) -> list[Any] | None:
    records = await _audit(api, auth, bot_id)
    return records if records and records[-1]["seq"] >= seq else None


async def _gone(fly: FlyMachines, bot_id: str) -> bool:
    return await fly.list(metadata={"bot_id": bot_id}) == []


async def test_a_redelivered_launch_finds_its_machine_and_a_new_launch_replaces_it(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, pg_dsn: str
) -> None:
    """A worker killed between the Fly create call and its ack gets the event again: still one machine."""
    api, settings = cloud.api, cloud.settings
    auth = await _user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    bot_id = created.json()["bot_id"]
    [first] = await wait_for(lambda: _machines(fly, bot_id), timeout_s=60, what="the first machine")
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


async def test_a_hosted_bot_keeps_trading_while_the_workers_are_down_and_its_audit_lands_once(
    cloud: Cloud,
    db: asyncpg.Connection,
    fly: FlyMachines,
    emulator: FlyEmulator,
) -> None:
    api, settings = cloud.api, cloud.settings
    auth = await _user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()["bot_id"]
    await wait_for(lambda: _audit(api, auth, bot_id), timeout_s=240, what="the first audit record")
    [machine] = await fly.list(metadata={"bot_id": bot_id})
    await cloud.workers[-1].stop()  # the control plane's workers die; the machine does not
    stored_before = await db.fetchval("SELECT max(seq) FROM audit_events WHERE bot_id = $1", uuid.UUID(bot_id))
    ticked = await wait_for(
        lambda: _logged_seq_above(emulator, machine.id, stored_before + 20), timeout_s=120, what="ticks without workers"
    )
    assert await db.fetchval("SELECT max(seq) FROM audit_events WHERE bot_id = $1", uuid.UUID(bot_id)) == stored_before
    cloud.workers.append(await start_workers(settings))
    audit = await wait_for(
        lambda: _audit_through(api, auth, bot_id, ticked), timeout_s=60, what="the audit to catch up"
    )
    assert [r["seq"] for r in audit] == list(range(1, len(audit) + 1))


async def _machines(fly: FlyMachines, bot_id: str) -> list[Any] | None:
    return await fly.list(metadata={"bot_id": bot_id}) or None


async def _logged_seq_above(emulator: FlyEmulator, machine_id: str, seq: int) -> int | None:
    log = emulator.log_path(machine_id).read_text()
    seqs = [int(line.split("seq=")[1].split()[0]) for line in log.splitlines() if "seq=" in line]
    return max(seqs) if seqs and max(seqs) > seq else None


async def test_a_scale_to_zero_bot_woken_three_times_takes_one_new_bar_each_time_and_carries_its_state(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, pg_dsn: str
) -> None:
    api, settings = cloud.api, cloud.settings
    auth = await _user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=SLEEPING_PROFILE, headers=auth)).json()["bot_id"]
    [first] = await wait_for(lambda: _machines(fly, bot_id), timeout_s=60, what="the first machine")
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
    records = await _audit(api, auth, bot_id)
    return records if records and len(records) >= n else None
