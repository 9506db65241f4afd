"""Hosted bots through control-plane faults, with the API and the workers as real processes
that are SIGKILLed: a worker killed between the Fly create call and its ack, the whole
control plane killed while a bot trades, and the KMS down while a bot launches.

The Fly Machines emulator runs in the test process, so its machines (the real boot
entrypoint and trader) outlive the control plane, as VMs do."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from events.bus import Bus
from events.embedded import NatsServer, free_port
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from tests.busutil import count_on_subject
from tests.conftest import TEST_ACK_WAIT_S, wait_for
from tests.controlplane import ControlPlane, KmsProcess, control_plane_env
from tests.hostedutil import (
    HOSTED_PROFILE,
    TOKEN,
    audit_records,
    audit_through,
    bot_view,
    hosted_user,
    logged_seq_above,
    machines_of,
)
from tests.vaultutil import alpaca, connect


@pytest.fixture
def kms(tmp_path: Path) -> Iterator[KmsProcess]:
    process = KmsProcess(tmp_path / "kms" / "keys.json")
    process.start()
    yield process
    process.kill()


@pytest.fixture
def plane(
    nats_server: NatsServer,
    pg_dsn: str,
    key_file: Path,
    machine_key_dir: Path,
    emulator: FlyEmulator,
    kms: KmsProcess,
    tmp_path: Path,
) -> Iterator[ControlPlane]:
    port = free_port()
    env = control_plane_env(
        NATS_URL=nats_server.url,
        DATABASE_URL=pg_dsn,
        HMMTRADE_JWT_PRIVATE_KEY_FILE=key_file,
        KMS_ENDPOINT=kms.endpoint,
        KMS_EMULATOR_TOKEN=kms.token,
        KMS_TIMEOUT_S="1",
        HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
        HMMTRADE_ACK_WAIT_S=str(TEST_ACK_WAIT_S),
        FLY_API_TOKEN=TOKEN,
        FLY_API_HOSTNAME=emulator.url,
        FLY_APP_NAME=emulator.app_name,
        HMMTRADE_BOT_API_URL=f"http://127.0.0.1:{port}",
        HMMTRADE_HOSTED_REPLAY_PACE="25",
    )
    control = ControlPlane(env, tmp_path, api_port=port)
    yield control
    control.kill_all()


@pytest.fixture
async def api(plane: ControlPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=plane.api_url, timeout=30) as client:
        yield client


async def _machine_of(db: asyncpg.Connection, bot_id: str) -> str | None:
    machine_id: str | None = await db.fetchval("SELECT machine_id FROM bots WHERE id = $1", uuid.UUID(bot_id))
    return machine_id


async def test_a_worker_killed_between_the_fly_create_and_its_ack_leaves_exactly_one_machine(
    plane: ControlPlane, api: httpx.AsyncClient, fly: FlyMachines, db: asyncpg.Connection, bus: Bus
) -> None:
    await plane.start_api()
    doomed = await plane.start_workers("hosting.after_create=pause")
    auth = await hosted_user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]

    async def frozen() -> bool:
        return '"hosting.after_create"' in doomed.log()

    await wait_for(frozen, timeout_s=60, what="the worker to freeze right after the Fly create call")
    [made] = await wait_for(lambda: machines_of(fly, bot_id), timeout_s=30, what="the machine it created")
    assert await _machine_of(db, bot_id) is None  # created on Fly, recorded nowhere yet
    doomed.kill9()

    await plane.start_workers()

    async def recorded() -> str | None:
        return await _machine_of(db, bot_id)

    assert await wait_for(recorded, timeout_s=60, what="the redelivered launch to record a machine") == made.id
    assert [m.id for m in await fly.list(metadata={"bot_id": bot_id})] == [made.id]
    await wait_for(lambda: audit_records(api, auth, bot_id), timeout_s=240, what="the bot's first audit record")
    assert (await bot_view(api, auth, bot_id))["status"] == "running"
    assert await count_on_subject(bus.js, "EVENTS", f"events.bot.{bot_id}.provisioned") == 1


async def test_the_control_plane_killed_while_a_hosted_bot_trades_loses_and_doubles_no_audit(
    plane: ControlPlane, api: httpx.AsyncClient, fly: FlyMachines, emulator: FlyEmulator, db: asyncpg.Connection
) -> None:
    api_process = await plane.start_api()
    workers = await plane.start_workers()
    auth = await hosted_user(api, db, "pro")
    bot_id = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()["bot_id"]
    await wait_for(lambda: audit_records(api, auth, bot_id), timeout_s=240, what="the first audit record")
    [machine] = await fly.list(metadata={"bot_id": bot_id})

    api_process.kill9()  # the whole control plane dies; the bot's machine does not
    workers.kill9()
    stored_before = await db.fetchval("SELECT max(seq) FROM audit_events WHERE bot_id = $1", uuid.UUID(bot_id))
    ticked = await wait_for(
        lambda: logged_seq_above(emulator, machine.id, stored_before + 20),
        timeout_s=120,
        what="the bot to keep deciding with no control plane",
    )
    assert (await fly.get(machine.id)).state == "started"
    assert await db.fetchval("SELECT max(seq) FROM audit_events WHERE bot_id = $1", uuid.UUID(bot_id)) == stored_before

    await plane.start_api()  # the same port: the machine was told this URL
    await plane.start_workers()
    audit = await wait_for(
        lambda: audit_through(api, auth, bot_id, ticked), timeout_s=120, what="the audit to catch up"
    )
    assert [r["seq"] for r in audit] == list(range(1, len(audit) + 1))
    rows = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT seq) AS distinct_seqs, max(seq) AS top FROM audit_events"
        " WHERE bot_id = $1",
        uuid.UUID(bot_id),
    )
    assert rows["n"] == rows["distinct_seqs"] == rows["top"]


async def test_with_the_kms_down_a_running_bot_trades_on_and_a_launch_waits_with_the_reason_then_boots(
    plane: ControlPlane, api: httpx.AsyncClient, kms: KmsProcess, db: asyncpg.Connection, emulator: FlyEmulator
) -> None:
    await plane.start_api()
    await plane.start_workers()
    auth = await hosted_user(api, db, "pro")
    running_id = (await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)).json()["bot_id"]
    before = await wait_for(lambda: audit_records(api, auth, running_id), timeout_s=240, what="the first bot trading")
    connection_id = await connect(api, auth, alpaca("sealed-before-the-outage"))

    kms.kill()
    await wait_for(
        lambda: audit_through(api, auth, running_id, before[-1]["seq"] + 10),
        timeout_s=120,
        what="the running bot to keep trading with the KMS down",
    )
    profile: dict[str, Any] = copy.deepcopy(HOSTED_PROFILE)
    profile["broker"] = {"connection": connection_id}
    profile["basics"]["name"] = "Launched during the outage"
    created = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert created.status_code == 202, created.text
    new_id = created.json()["bot_id"]

    async def waiting() -> dict[str, Any] | None:
        bot = await bot_view(api, auth, new_id)
        return bot if bot["status"] == "starting" and bot["status_reason"] else None

    bot = await wait_for(waiting, timeout_s=120, what="the new bot to say why it can't boot")
    assert "key management service is unavailable" in bot["status_reason"]
    assert "starts when the service is back" in bot["status_reason"]
    machine_log = emulator.log_path(bot["machine_id"]).read_text()
    assert "broker_token -> 503" in machine_log and "sealed-before-the-outage" not in machine_log
    assert await audit_records(api, auth, new_id) is None

    kms.start()  # the same port and keys; nothing else is restarted

    async def booted() -> dict[str, Any] | None:
        bot = await bot_view(api, auth, new_id)
        return bot if bot["status"] == "running" and await audit_records(api, auth, new_id) else None

    bot = await wait_for(booted, timeout_s=180, what="the new bot to boot once the KMS is back")
    assert bot["status_reason"] is None
    assert "broker credentials received (alpaca)" in emulator.log_path(bot["machine_id"]).read_text()
