"""A hosting consumer's dependencies over the real API's key folder, Postgres, the bus and a Fly
emulator whose machines only sleep: the tests drive ``workers.hosting`` directly and read what
each machine was given, without booting a trader on two busy cores."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from api.settings import ApiSettings
from events.bus import Bus
from fly.client import FlyMachines
from fly.emu_images import ImageSpec, ImageTable
from fly.emulator import FlyEmulator
from fly.models import Machine
from store.pool import create_pool
from tests.conftest import FLY_TOKEN
from tests.vaultutil import machine_tokens
from workers import hosting

# Waits for SIGTERM (a stop) or SIGKILL (a forced delete); Python's default SIGTERM action exits.
SLEEPER = ImageSpec(entrypoint=("python", "-c", "import signal\nwhile True: signal.pause()"))


async def exchange(api: httpx.AsyncClient, bot_id: str, bootstrap: str) -> httpx.Response:
    """What a booting machine does first: its bootstrap for its machine JWT."""
    return await api.post(
        "/api/v1/internal/machine_token", json={"bot_id": bot_id}, headers={"Authorization": f"Bearer {bootstrap}"}
    )


async def machine_jwt(api: httpx.AsyncClient, machine: Machine) -> str:
    """The JWT the machine's boot would hold, from the bootstrap in its config."""
    answer = await exchange(api, machine.config.metadata["bot_id"], machine.config.env["HMMTRADE_MACHINE_BOOTSTRAP"])
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


@contextlib.asynccontextmanager
async def sleeper_emulator(data_dir: Path) -> AsyncIterator[FlyEmulator]:
    async with FlyEmulator(token=FLY_TOKEN, data_dir=data_dir, images=ImageTable(default=SLEEPER)) as emu:
        yield emu


@contextlib.asynccontextmanager
async def hosting_deps(
    api_settings: ApiSettings, emulator: FlyEmulator, bus: Bus
) -> AsyncIterator[hosting.HostingDeps]:
    """What the hosting worker holds, signing with the API's machine-key folder."""
    pool = await create_pool(api_settings.database_url, max_size=2)
    try:
        async with httpx.AsyncClient() as http:
            yield hosting.HostingDeps(
                pool=pool,
                bus=bus,
                fly=FlyMachines(http, app_name=emulator.app_name, token=FLY_TOKEN, base_url=emulator.url),
                tokens=machine_tokens(api_settings),
                machines=hosting.BotMachineSettings(
                    image="registry.fly.io/hmmtrade-bots:test",
                    api_url="http://127.0.0.1:9",  # never called: the sleepers do not boot
                    nats_url=api_settings.nats_url,
                ),
            )
    finally:
        await pool.close()
