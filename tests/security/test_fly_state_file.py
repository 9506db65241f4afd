"""The Fly emulator's state file holds every machine's config env (a hosted bot's boot
credential among it): only its owner can read it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from fly.client import FlyMachines
from fly.models import bot_machine_config
from tests.conftest import FLY_TOKEN
from tests.security.relaunch_stack import sleeper_emulator


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_state_file_is_written_owner_only_even_over_an_older_world_readable_one(tmp_path: Path) -> None:
    data_dir = tmp_path / "fly"
    data_dir.mkdir()
    state_file = data_dir / "state.json"
    state_file.write_text('{"version": 1, "machines": []}')
    state_file.chmod(0o644)  # as an earlier emulator left it
    (data_dir / "state.tmp").write_text("")
    (data_dir / "state.tmp").chmod(0o644)  # a crash between write and rename
    async with sleeper_emulator(data_dir) as emulator, httpx.AsyncClient() as http:
        fly = FlyMachines(http, app_name=emulator.app_name, token=FLY_TOKEN, base_url=emulator.url)
        config = bot_machine_config(bot_id="b1", image="bot:test", env={"HMMTRADE_MACHINE_BOOTSTRAP": "secret"})
        machine = await fly.create(config)
        assert "secret" in state_file.read_text()
        assert mode(state_file) == 0o600, oct(mode(state_file))
        await fly.delete(machine.id, force=True)
    assert mode(state_file) == 0o600, oct(mode(state_file))
