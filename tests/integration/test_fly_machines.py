"""The Fly client drives the Machines emulator over loopback: states, signals, restart policies, logs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from fly.errors import FlyAuthError, FlyBadRequest, FlyConflict, FlyNotFound, FlyWaitTimeout
from fly.models import Guest, InitConfig, bot_machine_config
from tests.conftest import wait_for
from tests.flyutil import BOOT_S, GRACEFUL, STUBBORN, TOKEN, alive, boots, exits_with, machine_config


async def test_a_created_machine_boots_and_stops_gracefully_on_sigterm(fly: FlyMachines, emulator: FlyEmulator) -> None:
    created = await fly.create(machine_config(GRACEFUL, bot_id="bot-a"))
    assert created.state == "created"
    assert created.config.metadata == {"bot_id": "bot-a"}

    await fly.wait(created.id, "started", timeout_s=BOOT_S)
    [boot] = await wait_for(lambda: _boots(emulator, created.id), what="the process to boot", timeout_s=BOOT_S)
    assert boot["env"]["FLY_MACHINE_ID"] == created.id
    assert boot["env"]["FLY_APP_NAME"] == emulator.app_name
    assert boot["env"]["FLY_REGION"] == created.region == "iad"
    assert boot["env"]["FLY_IMAGE_REF"] == "registry.fly.io/hmmtrade-bots:test"
    assert boot["env"]["BOT_ID"] == "bot-a"

    await fly.stop(created.id, signal="SIGTERM", timeout_s=10)
    await fly.wait(created.id, "stopped", timeout_s=BOOT_S)
    machine = await fly.get(created.id)
    assert machine.state == "stopped"
    exit_event = machine.events[0].request["exit_event"]  # type: ignore[index]
    assert (exit_event["exit_code"], exit_event["requested_stop"]) == (0, True)
    assert (emulator.machines.root_dir(created.id) / "terminated").read_text() == "yes"
    assert "got SIGTERM: flushing and exiting 0" in emulator.log_path(created.id).read_text()
    assert not alive(boot["pid"])


async def test_a_stop_that_times_out_ends_in_sigkill(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(STUBBORN))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    [boot] = await wait_for(lambda: _boots(emulator, machine.id), what="the process to boot", timeout_s=BOOT_S)

    await fly.stop(machine.id, signal="SIGTERM", timeout_s=2)
    assert (await fly.get(machine.id)).state == "stopping"
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)

    log = emulator.log_path(machine.id).read_text()
    assert log.index("got SIGTERM: ignoring it") < log.index("stop timeout reached: SIGKILL")
    exit_event = (await fly.get(machine.id)).events[0].request["exit_event"]  # type: ignore[index]
    assert exit_event["signal"] == 9
    assert not alive(boot["pid"])


async def test_a_machine_can_be_started_again_after_a_stop(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(GRACEFUL))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    await wait_for(lambda: _boots(emulator, machine.id), what="the first boot", timeout_s=BOOT_S)
    await fly.stop(machine.id)
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)

    assert await fly.start(machine.id) == "stopped"
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    assert await fly.start(machine.id) == "started"  # already running: nothing happens
    all_boots = await wait_for(
        lambda: _boots(emulator, machine.id, at_least=2), what="the second boot", timeout_s=BOOT_S
    )
    assert len(all_boots) == 2
    assert all_boots[0]["pid"] != all_boots[1]["pid"]


async def test_restart_policy_no_leaves_a_crashed_machine_stopped(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(exits_with(3), policy="no"))
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    assert len(boots(emulator, machine.id)) == 1
    exit_event = (await fly.get(machine.id)).events[0].request["exit_event"]  # type: ignore[index]
    assert (exit_event["exit_code"], exit_event["restarting"]) == (3, False)


async def test_restart_policy_always_reboots_even_after_a_clean_exit(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(exits_with(0, until_boot=3), policy="always"))
    await wait_for(lambda: _boots(emulator, machine.id, at_least=3), what="three boots", timeout_s=BOOT_S)
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    assert len(boots(emulator, machine.id)) == 3


async def test_restart_policy_on_failure_retries_a_crash_up_to_max_retries(
    fly: FlyMachines, emulator: FlyEmulator
) -> None:
    machine = await fly.create(machine_config(exits_with(1), policy="on-failure", max_retries=2))
    await wait_for(lambda: _boots(emulator, machine.id, at_least=3), what="three boots", timeout_s=BOOT_S)
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    assert len(boots(emulator, machine.id)) == 3  # the first run and two retries
    restarts = [e for e in (await fly.get(machine.id)).events if e.type == "restart"]
    assert len(restarts) == 2


async def test_restart_policy_on_failure_lets_a_clean_exit_stop_the_machine(
    fly: FlyMachines, emulator: FlyEmulator
) -> None:
    """What scale-to-zero relies on: a bot that ran --once and exited 0 leaves its machine stopped."""
    machine = await fly.create(machine_config(exits_with(0), policy="on-failure"))
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    assert len(boots(emulator, machine.id)) == 1


async def test_list_filters_by_bot_metadata(fly: FlyMachines) -> None:
    first = await fly.create(machine_config(GRACEFUL, bot_id="bot-a"))
    second = await fly.create(machine_config(GRACEFUL, bot_id="bot-b"))

    assert [m.id for m in await fly.list(metadata={"bot_id": "bot-a"})] == [first.id]
    assert {m.id for m in await fly.list()} == {first.id, second.id}
    found = await fly.find_by_bot("bot-b")
    assert found is not None and found.id == second.id and found.bot_id == "bot-b"
    assert await fly.find_by_bot("bot-c") is None


async def test_a_running_machine_is_deleted_only_with_force(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(GRACEFUL, bot_id="bot-d"))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    [boot] = await wait_for(lambda: _boots(emulator, machine.id), what="the process to boot", timeout_s=BOOT_S)

    with pytest.raises(FlyConflict, match="not currently stopped"):
        await fly.delete(machine.id)
    assert (await fly.get(machine.id)).state == "started"

    await fly.delete(machine.id, force=True)
    await fly.wait(machine.id, "destroyed", timeout_s=BOOT_S)
    assert not alive(boot["pid"])
    assert await fly.find_by_bot("bot-d") is None
    assert [m.state for m in await fly.list(include_deleted=True)] == ["destroyed"]
    with pytest.raises(FlyNotFound):
        await fly.start(machine.id)
    await fly.delete(machine.id, missing_ok=True)  # a redelivered delete intent is a success


async def test_a_stopped_machine_is_deleted_without_force(fly: FlyMachines) -> None:
    machine = await fly.create(machine_config(exits_with(0)))
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    await fly.delete(machine.id)
    assert (await fly.get(machine.id)).state == "destroyed"


async def test_starting_a_machine_that_is_still_stopping_is_a_conflict(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(STUBBORN))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    await wait_for(lambda: _boots(emulator, machine.id), what="the process to ignore SIGTERM", timeout_s=BOOT_S)
    await fly.stop(machine.id, timeout_s=2)
    with pytest.raises(FlyConflict, match="stopping"):
        await fly.start(machine.id)
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)


async def test_waiting_for_a_state_that_never_comes_times_out(fly: FlyMachines) -> None:
    machine = await fly.create(machine_config(GRACEFUL))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    with pytest.raises(FlyWaitTimeout, match="did not reach 'stopped' within 1s"):
        await fly.wait(machine.id, "stopped", timeout_s=1)


async def test_a_wait_returns_when_the_state_arrives(fly: FlyMachines) -> None:
    machine = await fly.create(machine_config(GRACEFUL))
    await fly.wait(machine.id, "started", timeout_s=BOOT_S)
    waiting = asyncio.create_task(fly.wait(machine.id, "stopped", timeout_s=30))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await fly.stop(machine.id)
    await asyncio.wait_for(waiting, 15)


async def test_a_command_that_cannot_launch_leaves_the_machine_failed(fly: FlyMachines, emulator: FlyEmulator) -> None:
    config = machine_config(GRACEFUL).model_copy(update={"init": InitConfig(exec=["/nonexistent/hmmtrade-boot"])})
    machine = await fly.create(config)

    async def failed() -> bool:
        return (await fly.get(machine.id)).state == "failed"

    await wait_for(failed, what="the machine to fail", timeout_s=BOOT_S)
    assert "launch failed" in emulator.log_path(machine.id).read_text()


async def test_an_invalid_config_is_refused_naming_the_field(fly: FlyMachines) -> None:
    config = machine_config(GRACEFUL).model_copy(update={"guest": Guest(memory_mb=1000)})
    with pytest.raises(FlyBadRequest, match=r"config\.guest\.memory_mb"):
        await fly.create(config)
    assert await fly.list() == []


async def test_a_wrong_token_is_refused(emulator: FlyEmulator) -> None:
    async with httpx.AsyncClient() as http:
        intruder = FlyMachines(http, app_name=emulator.app_name, token="wrong-token", base_url=emulator.url)
        with pytest.raises(FlyAuthError) as refused:
            await intruder.list()
        assert refused.value.status == 401
        assert "wrong-token" not in str(refused.value)
        raw = await http.get(f"{emulator.url}/v1/apps/{emulator.app_name}/machines")
        assert raw.status_code == 401 and "error" in raw.json()


async def test_another_apps_machines_are_not_found(emulator: FlyEmulator) -> None:
    async with httpx.AsyncClient() as http:
        other = FlyMachines(http, app_name="someone-elses-app", token=TOKEN, base_url=emulator.url)
        with pytest.raises(FlyNotFound, match="someone-elses-app"):
            await other.list()


async def test_the_bot_machine_config_has_a_gigabyte_and_the_bot_id(fly: FlyMachines) -> None:
    config = bot_machine_config(bot_id="bot-g", image="registry.fly.io/hmmtrade-bots:test", env={"BOT_ID": "bot-g"})
    config = config.model_copy(update={"init": machine_config(exits_with(0)).init})
    machine = await fly.create(config)
    assert machine.config.guest.memory_mb == 1024
    assert machine.config.restart.policy == "on-failure"
    assert machine.bot_id == "bot-g"


async def test_the_log_is_readable_over_http_from_an_offset(fly: FlyMachines, emulator: FlyEmulator) -> None:
    machine = await fly.create(machine_config(exits_with(0)))
    await fly.wait(machine.id, "stopped", timeout_s=BOOT_S)
    url = f"{emulator.url}/_emulator/apps/{emulator.app_name}/machines/{machine.id}/log"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        whole = await http.get(url)
        assert f"booted {machine.id} (boot 1)" in whole.text
        assert whole.text == emulator.log_path(machine.id).read_text()
        offset = int(whole.headers["x-log-size"])
        assert (await http.get(url, params={"offset": offset})).text == ""
        assert (await http.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401


async def _boots(emulator: FlyEmulator, machine_id: str, *, at_least: int = 1) -> list[dict[str, object]] | None:
    found = boots(emulator, machine_id)
    return found if len(found) >= at_least else None
