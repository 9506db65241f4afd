"""The Machines emulator survives its own restart, graceful or ``kill -9``, like a Fly host reboot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.embedded import free_port
from fly.backoff import RetryPolicy
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from tests.conftest import wait_for
from tests.flyutil import BOOT_S, GRACEFUL, TOKEN, alive, boots, exits_with, machine_config

REPO = Path(__file__).resolve().parents[2]


async def test_a_graceful_restart_keeps_machines_and_boots_the_started_ones(tmp_path: Path) -> None:
    data = tmp_path / "fly"
    async with FlyEmulator(token=TOKEN, data_dir=data) as first, httpx.AsyncClient() as http:
        fly = FlyMachines(http, app_name=first.app_name, token=TOKEN, base_url=first.url)
        running = await fly.create(machine_config(GRACEFUL, bot_id="bot-run", stop_signal="SIGTERM"))
        parked = await fly.create(machine_config(exits_with(0), bot_id="bot-parked"))
        await fly.wait(running.id, "started", timeout_s=BOOT_S)
        await fly.wait(parked.id, "stopped", timeout_s=BOOT_S)
        [boot] = await wait_for(lambda: _boots(first, running.id, 1), what="the first boot", timeout_s=BOOT_S)
    # Shutting the emulator down stopped the machine the way Fly stops it: its stop signal first.
    assert (data / "machines" / running.id / "root" / "terminated").read_text() == "yes"
    assert not alive(boot["pid"])

    async with FlyEmulator(token=TOKEN, data_dir=data) as second, httpx.AsyncClient() as http:
        fly = FlyMachines(http, app_name=second.app_name, token=TOKEN, base_url=second.url)
        assert {m.id: m.bot_id for m in await fly.list()} == {running.id: "bot-run", parked.id: "bot-parked"}
        await fly.wait(running.id, "started", timeout_s=BOOT_S)
        await wait_for(lambda: _boots(second, running.id, 2), what="the machine to boot again", timeout_s=BOOT_S)
        assert (await fly.get(parked.id)).state == "stopped"
        assert len(boots(second, parked.id)) == 1
        assert "the emulator restarted" in second.log_path(running.id).read_text()


class EmulatorProcess:
    """``hmmtrade fly-emulator`` as its own process, as ``hmmtrade up`` runs it."""

    def __init__(self, data_dir: Path, port: int, out: Path) -> None:
        env = {**os.environ, "FLY_API_TOKEN": TOKEN, "FLY_APP_NAME": "restart-test"}
        self.url = f"http://127.0.0.1:{port}"
        with out.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stack.cli", "fly-emulator", "--port", str(port), "--data-dir", str(data_dir)],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        async def healthy() -> bool:
            assert self.process.poll() is None, "the emulator exited"
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"{self.url}/_emulator/healthz", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(healthy, what="the emulator to serve", timeout_s=BOOT_S)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def emulator_dirs(tmp_path: Path) -> tuple[Path, int]:
    return tmp_path / "fly", free_port()


async def test_after_a_kill_9_the_next_emulator_kills_the_orphans_and_boots_the_machine_again(
    emulator_dirs: tuple[Path, int], tmp_path: Path
) -> None:
    data, port = emulator_dirs
    first = EmulatorProcess(data, port, tmp_path / "emulator-1.log")
    try:
        await first.ready()
        async with httpx.AsyncClient() as http:
            fly = FlyMachines(
                http, app_name="restart-test", token=TOKEN, base_url=first.url, retry=RetryPolicy(base_delay_s=0.05)
            )
            machine = await fly.create(machine_config(GRACEFUL, bot_id="bot-orphan"))
            await fly.wait(machine.id, "started", timeout_s=BOOT_S)
            root = data / "machines" / machine.id / "root"
            await wait_for(lambda: _boot_lines(root, 1), what="the first boot", timeout_s=BOOT_S)
    finally:
        first.kill()
    orphan = _read_boots(root)[0]["pid"]
    assert alive(orphan), "a VM does not die with the API: the process outlives a kill -9 of the emulator"

    second = EmulatorProcess(data, port, tmp_path / "emulator-2.log")
    try:
        await second.ready()
        async with httpx.AsyncClient() as http:
            fly = FlyMachines(http, app_name="restart-test", token=TOKEN, base_url=second.url)
            await fly.wait(machine.id, "started", timeout_s=BOOT_S)
            [_, reboot] = await wait_for(
                lambda: _boot_lines(root, 2), what="the machine to boot again", timeout_s=BOOT_S
            )
            assert not alive(orphan)
            assert alive(reboot["pid"])
            await fly.stop(machine.id)
            await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    finally:
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(30) == 0


async def _boots(emulator: FlyEmulator, machine_id: str, count: int) -> list[dict[str, Any]] | None:
    found = boots(emulator, machine_id)
    return found if len(found) >= count else None


def _read_boots(root: Path) -> list[dict[str, Any]]:
    path = root / "boots"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _boot_lines(root: Path, count: int) -> list[dict[str, Any]] | None:
    found = _read_boots(root)
    return found if len(found) >= count else None
