"""A relaunched bot (a scale-to-zero wake, a start after a stop, a recreated machine) keeps one
live machine token: the replaced machine's token is refused from the relaunch on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from fly.emulator import FlyEmulator
from store import bots
from tests.security.relaunch_stack import exchange, hosting_deps, machine_jwt, sleeper_emulator
from tests.vaultutil import create_bot
from workers import hosting
from workers.app import WorkerRuntime


@pytest.fixture
async def sleepers(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    async with sleeper_emulator(tmp_path / "fly") as emu:
        yield emu


async def get_bot(api: httpx.AsyncClient, bot_id: str, token: str) -> int:
    response = await api.get(f"/api/v1/internal/bots/{bot_id}", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_a_relaunch_revokes_the_replaced_machines_token_and_a_redelivery_keeps_the_new_one(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    bus: Bus,
    sleepers: FlyEmulator,
) -> None:
    bot_id = await create_bot(api, auth)
    async with hosting_deps(api_settings, sleepers, bus) as deps:
        row = await bots.get_bot(deps.pool, uuid.UUID(bot_id))
        assert row is not None
        first = await hosting.launch(row, "start-1", deps)
        assert first is not None
        old = await machine_jwt(api, first)
        assert await get_bot(api, bot_id, old) == 200

        woken = await hosting.launch(row, "wake-2", deps)  # what a wake and a start both do
        assert woken is not None and woken.id != first.id
        new = await machine_jwt(api, woken)
        assert await get_bot(api, bot_id, old) == 401
        assert await get_bot(api, bot_id, new) == 200

        again = await hosting.launch(row, "wake-2", deps)  # a redelivered launch: the same machine
        assert again is not None and again.id == woken.id
        assert await get_bot(api, bot_id, new) == 200

        # a machine replaced before its boot exchanged its bootstrap: that bootstrap is dead too
        third = await hosting.launch(row, "start-3", deps)
        assert third is not None
        assert await get_bot(api, bot_id, new) == 401
        fourth = await hosting.launch(row, "wake-4", deps)
        assert fourth is not None
        assert (await exchange(api, bot_id, third.config.env["HMMTRADE_MACHINE_BOOTSTRAP"])).status_code == 401
        assert await get_bot(api, bot_id, await machine_jwt(api, fourth)) == 200
