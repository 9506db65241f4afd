"""Scale-to-zero through the emulator: the scheduler starts a stopped bot machine after each close; it runs, stops."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from tests.conftest import wait_for
from tests.fakes.wake import FakeClock, FakeRoster
from tests.flyutil import BOOT_S, TOKEN, boots, exits_with, machine_config
from workers.waker import FlyStarter, SleepingBot, WakeScheduler

NY = ZoneInfo("America/New_York")


async def test_a_sleeping_bot_machine_is_woken_once_per_trading_day(tmp_path: Path) -> None:
    async with FlyEmulator(token=TOKEN, data_dir=tmp_path / "fly") as emulator, httpx.AsyncClient() as http:
        fly = FlyMachines(http, app_name=emulator.app_name, token=TOKEN, base_url=emulator.url)
        # A --once run: does its work, exits 0, and on-failure lets the machine stop.
        machine = await fly.create(machine_config(exits_with(0), bot_id="bot-daily", policy="on-failure"))
        await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)

        clock = FakeClock(datetime(2024, 11, 26, 12, tzinfo=NY).astimezone(UTC))  # Tuesday before Thanksgiving
        roster = FakeRoster()
        roster.add(SleepingBot("bot-daily", machine.id))
        waker = WakeScheduler(starter=FlyStarter(fly), roster=roster, clock=clock, poll_s=3600)

        end = datetime(2024, 11, 29, 18, tzinfo=NY).astimezone(UTC)
        while clock.now() < end:
            if await waker.tick():
                expected = len(roster.wakes) + 1
                await wait_for(lambda n=expected: _booted(emulator, machine.id, n), timeout_s=BOOT_S, what="a boot")
                await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
            await clock.sleep(waker.seconds_until_next_tick())

        assert [at.astimezone(NY).strftime("%a %H:%M") for _, at in roster.wakes] == [
            "Tue 16:15",
            "Wed 16:15",
            "Fri 13:15",  # Thanksgiving skipped, early close on Friday
        ]
        assert len(boots(emulator, machine.id)) == 4  # the first run plus one per wake
        assert (await fly.get(machine.id)).state == "stopped"


async def _booted(emulator: FlyEmulator, machine_id: str, count: int) -> bool:
    return len(boots(emulator, machine_id)) >= count
