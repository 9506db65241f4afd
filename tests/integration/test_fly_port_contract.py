"""The in-memory FakeMachines and the real client on the emulator behave the same through the port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from fly.errors import FlyConflict, FlyNotFound, FlyWaitTimeout
from fly.port import Machines
from tests.fakes.fly import FakeMachines
from tests.flyutil import BOOT_S, GRACEFUL, TOKEN, machine_config


@pytest.fixture(params=["fake", "emulator"])
async def machines(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Machines]:
    if request.param == "fake":
        yield FakeMachines()
        return
    async with FlyEmulator(token=TOKEN, data_dir=tmp_path / "fly") as emulator, httpx.AsyncClient() as http:
        yield FlyMachines(http, app_name=emulator.app_name, token=TOKEN, base_url=emulator.url)


async def test_a_bot_machine_lifecycle_through_the_port(machines: Machines) -> None:
    assert await machines.find_by_bot("bot-p") is None
    created = await machines.create(machine_config(GRACEFUL, bot_id="bot-p"))
    await machines.wait(created.id, "started", timeout_s=BOOT_S)
    found = await machines.find_by_bot("bot-p")
    assert (
        found is not None and found.id == created.id and found.config.guest.memory_mb == created.config.guest.memory_mb
    )

    with pytest.raises(FlyConflict):
        await machines.delete(created.id)
    await machines.stop(created.id, timeout_s=10)
    await machines.wait(created.id, "stopped", timeout_s=BOOT_S)
    with pytest.raises(FlyWaitTimeout):
        await machines.wait(created.id, "started", timeout_s=1)

    assert await machines.start(created.id) == "stopped"
    await machines.wait(created.id, "started", timeout_s=BOOT_S)
    await machines.delete(created.id, force=True)
    await machines.wait(created.id, "destroyed", timeout_s=BOOT_S)
    assert await machines.find_by_bot("bot-p") is None
    assert (await machines.get(created.id)).state == "destroyed"
    with pytest.raises(FlyNotFound):
        await machines.start(created.id)
    await machines.delete(created.id, missing_ok=True)
