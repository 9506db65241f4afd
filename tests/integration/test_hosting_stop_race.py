"""A stop right after a create: the lifecycle projects the stop before the hosting consumer has
launched the machine for the create, and that launch said ``running``. The stop, handled after
the launch, stops the machine and puts the bot's status back to ``stopped`` (it once stayed
``running`` over a stopped machine); a start that follows is handled after it and runs again."""

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
from tests.security.relaunch_stack import hosting_deps, sleeper_emulator
from tests.vaultutil import create_bot
from workers import hosting
from workers.app import WorkerRuntime


@pytest.fixture
async def sleepers(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    async with sleeper_emulator(tmp_path / "fly") as emu:
        yield emu


async def test_a_stop_projected_before_the_creates_launch_leaves_the_bot_stopped(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    api_settings: ApiSettings,
    workers: WorkerRuntime,
    bus: Bus,
    sleepers: FlyEmulator,
) -> None:
    bot_id = await create_bot(api, auth)  # projected "stopped"; the workers run no hosting here
    async with hosting_deps(api_settings, sleepers, bus) as deps:
        row = await bots.get_bot(deps.pool, uuid.UUID(bot_id))
        assert row is not None and row.status == "stopped"
        stop = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)  # the user's stop, projected first
        assert stop.status_code == 202

        machine = await hosting.launch(row, f"{bot_id}:created", deps)  # the create's launch, handled late
        assert machine is not None
        assert (await bots.get_bot(deps.pool, row.id)).status == "running"  # type: ignore[union-attr]

        await hosting.halt(row, deps, reason="stopped on request")  # then the stop's event
        after = await bots.get_bot(deps.pool, row.id)
        assert after is not None and (after.status, after.status_reason) == ("stopped", "stopped on request")
        assert (await deps.fly.get(machine.id)).state == "stopped"

        restarted = await hosting.launch(row, f"{bot_id}:started", deps)  # a later start, handled after
        assert restarted is not None
        assert (await bots.get_bot(deps.pool, row.id)).status == "running"  # type: ignore[union-attr]
