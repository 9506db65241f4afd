"""Hosted bots end to end: the API, the workers' hosting consumer, the Fly Machines emulator
running the real boot entrypoint, the trader, the bus and audit ingest, all on loopback."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from fly.backoff import RetryPolicy
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from tests.apiserver import serve_api
from tests.conftest import TEST_ACK_WAIT_S, VALID_PROFILE, intent_settled, wait_for
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings

TOKEN = "test-fly-token-not-a-secret"

HOSTED_PROFILE: dict[str, Any] = copy.deepcopy(VALID_PROFILE)
HOSTED_PROFILE["basics"] = {"name": "Hosted test bot", "surface": "hosted", "mode": "paper"}
HOSTED_PROFILE["model"] = {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150}
HOSTED_PROFILE["strategy"] = {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10}


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
) -> AsyncIterator[tuple[httpx.AsyncClient, WorkerRuntime]]:
    """The API on a real port (machines call it) and workers that launch hosted bots on the emulator."""
    monkeypatch.setenv("FLY_API_TOKEN", TOKEN)
    monkeypatch.setenv("FLY_API_HOSTNAME", emulator.url)
    monkeypatch.setenv("FLY_APP_NAME", emulator.app_name)
    async with serve_api(api_settings) as url:
        settings = WorkerSettings(
            NATS_URL=api_settings.nats_url,
            DATABASE_URL=api_settings.database_url,
            HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
            HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
            HMMTRADE_BOT_API_URL=url,
            HMMTRADE_HOSTED_REPLAY_PACE=25,
        )
        runtime = await start_workers(settings)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client, runtime
        await runtime.stop()


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
    cloud: tuple[httpx.AsyncClient, WorkerRuntime], db: asyncpg.Connection, fly: FlyMachines, emulator: FlyEmulator
) -> None:
    api, _ = cloud
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
    cloud: tuple[httpx.AsyncClient, WorkerRuntime], db: asyncpg.Connection, fly: FlyMachines
) -> None:
    api, _ = cloud
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
