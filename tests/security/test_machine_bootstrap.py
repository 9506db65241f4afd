"""A hosted bot's machine config carries a single-use, short-lived bootstrap, never the machine
JWT: the boot exchanges it once for the JWT; a second exchange, an expired or another bot's
bootstrap is refused, and a replay is recorded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from fly.emulator import FlyEmulator
from store import bots
from tests.conftest import intent_settled
from tests.security.relaunch_stack import exchange, hosting_deps, sleeper_emulator
from tests.vaultutil import create_bot
from workers import hosting
from workers.app import WorkerRuntime


@pytest.fixture
async def sleepers(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    async with sleeper_emulator(tmp_path / "fly") as emu:
        yield emu


async def launched_bootstrap(
    api_settings: ApiSettings, sleepers: FlyEmulator, bus: Bus, bot_id: str, launch_id: str = "start-1"
) -> tuple[str, dict[str, str]]:
    async with hosting_deps(api_settings, sleepers, bus) as deps:
        row = await bots.get_bot(deps.pool, uuid.UUID(bot_id))
        assert row is not None
        machine = await hosting.launch(row, launch_id, deps)
    assert machine is not None
    env = dict(machine.config.env)
    return env["HMMTRADE_MACHINE_BOOTSTRAP"], env


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_bootstrap_is_exchanged_once_for_a_working_jwt_and_a_replay_is_refused_and_recorded(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    bus: Bus,
    db: asyncpg.Connection,
    sleepers: FlyEmulator,
) -> None:
    bot_id = await create_bot(api, auth)
    bootstrap, env = await launched_bootstrap(api_settings, sleepers, bus, bot_id)
    assert "HMMTRADE_MACHINE_TOKEN" not in env
    assert not any(value.startswith("eyJ") for value in env.values()), "a JWT in the machine config"
    assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=bearer(bootstrap))).status_code == 401

    first = await exchange(api, bot_id, bootstrap)
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    jwt = first.json()["token"]
    assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=bearer(jwt))).status_code == 200
    bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=bearer(jwt))
    assert bundle.status_code == 200, bundle.text

    second = await exchange(api, bot_id, bootstrap)
    assert second.status_code == 401
    assert "already used" in second.json()["detail"]
    row = await db.fetchrow("SELECT replays, last_replay_at, machine_jti FROM machine_bootstraps WHERE bot_id = $1",
                            uuid.UUID(bot_id))  # fmt: skip
    assert row is not None and row["replays"] == 1 and row["last_replay_at"] is not None
    assert row["machine_jti"] is not None
    live = await db.fetchval("SELECT count(*) FROM machine_tokens WHERE bot_id = $1 AND revoked_at IS NULL",
                             uuid.UUID(bot_id))  # fmt: skip
    assert live == 1  # the replay minted nothing
    assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=bearer(jwt))).status_code == 200


async def test_an_expired_a_foreign_a_garbage_and_a_stopped_bots_bootstrap_are_refused(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    bus: Bus,
    db: asyncpg.Connection,
    sleepers: FlyEmulator,
) -> None:
    bot_a, bot_b = await create_bot(api, auth), await create_bot(api, auth)
    bootstrap_a, _ = await launched_bootstrap(api_settings, sleepers, bus, bot_a)
    assert (await exchange(api, bot_b, bootstrap_a)).status_code == 401  # bound to bot A
    assert (await exchange(api, bot_a, "hmb_not-issued-by-us")).status_code == 401
    no_prefix = await exchange(api, bot_a, bootstrap_a.removeprefix("hmb_"))
    assert no_prefix.status_code == 401 and "hmb_" in no_prefix.json()["detail"]

    await db.execute("UPDATE machine_bootstraps SET expires_at = now() - interval '1 second' WHERE bot_id = $1",
                     uuid.UUID(bot_a))  # fmt: skip
    assert (await exchange(api, bot_a, bootstrap_a)).status_code == 401  # ten minutes later

    bootstrap_b, _ = await launched_bootstrap(api_settings, sleepers, bus, bot_b)
    stop = await api.post(f"/api/v1/bots/{bot_b}/stop", headers=auth)
    assert stop.status_code == 202
    assert (await intent_settled(api, auth, stop.json()["intent_id"]))["status"] == "done"
    assert (await exchange(api, bot_b, bootstrap_b)).status_code == 401
    replays = await db.fetchval("SELECT coalesce(sum(replays), 0) FROM machine_bootstraps WHERE bot_id = ANY($1)",
                                [uuid.UUID(bot_a), uuid.UUID(bot_b)])  # fmt: skip
    assert replays == 0  # none of these was a second exchange
