"""The emulator's machines: Fly's state machine, with one local process group per running machine.

States: ``created`` -> ``starting`` -> ``started`` -> ``stopping`` -> ``stopped``; ``destroying`` ->
``destroyed``; ``failed`` when the command cannot be launched. When the main process exits on its
own the restart policy decides: ``no`` stops the machine, ``always`` boots it again, ``on-failure``
boots it again after a non-zero exit (or a signal) up to ``max_retries`` times (Fly's default 10)
and stops it otherwise. Restarts back off (0.1 s doubling, at most 2 s). As in a VM, nothing
outlives the main process: when it exits its whole process group is killed.

Stop sends the requested signal to the main process only (Fly's init does the same; forwarding to
children is the entrypoint's job), then SIGKILLs the group after the timeout. Each machine's
stdout and stderr, plus the emulator's own ``[fly-emulator]`` lines, go to
``<data dir>/machines/<id>/machine.log``; its HOME and working directory is ``.../root``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from fly.emu_config import (
    DEFAULT_STOP_SIGNAL,
    DEFAULT_STOP_TIMEOUT_S,
    EmulatorError,
    parse_duration_s,
    parse_signal,
)
from fly.emu_images import ImageTable, UnknownImage, command_for, image_ref_parts
from fly.emu_store import kill_orphan_group, load_state, process_start_time, save_state
from fly.emu_vm import Vm, append_log_line, kill_group, new_ulid, now_rfc3339

log = structlog.get_logger(__name__)

RUNNING = ("starting", "started", "stopping")
MAX_EVENTS = 30


@dataclass
class MachineHost:
    """Every machine of one emulated app."""

    app_name: str
    region: str
    data_dir: Path
    images: ImageTable
    state_file: Path | None = None
    base_env: Mapping[str, str] = field(default_factory=dict)
    _vms: dict[str, Vm] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _closing: bool = False

    # -- queries ----------------------------------------------------------------------------------

    def list_machines(
        self, *, include_deleted: bool = False, metadata: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        wanted = dict(metadata or {})
        return [
            vm.record
            for vm in self._vms.values()
            if (include_deleted or vm.state != "destroyed")
            and all(vm.record["config"].get("metadata", {}).get(k) == v for k, v in wanted.items())
        ]

    def get(self, machine_id: str) -> dict[str, Any]:
        return self._vm(machine_id).record

    def log_path(self, machine_id: str) -> Path:
        return self.data_dir / "machines" / machine_id / "machine.log"

    async def wait(self, machine_id: str, state: str, timeout_s: float) -> bool:
        """True once the machine is in ``state``; False after ``timeout_s``."""
        vm = self._vm(machine_id)
        deadline = time.monotonic() + timeout_s
        while vm.state != state:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    # -- commands ---------------------------------------------------------------------------------

    def create(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A validated create request (see ``emu_config.validate_create``) -> the new machine record."""
        machine_id = secrets.token_hex(7)
        now = now_rfc3339()
        config = request["config"]
        record: dict[str, Any] = {
            "id": machine_id,
            "name": request.get("name") or f"machine-{machine_id[:8]}",
            "state": "created",
            "region": request.get("region") or self.region,
            "instance_id": new_ulid(),
            "private_ip": f"fdaa:0:{secrets.token_hex(2)}:a7b:{secrets.token_hex(2)}:{secrets.token_hex(2)}::2",
            "config": config,
            "image_ref": image_ref_parts(config["image"]),
            "created_at": now,
            "updated_at": now,
            "events": [],
        }
        vm = Vm(record)
        self._vms[machine_id] = vm
        self.root_dir(machine_id).mkdir(parents=True, exist_ok=True)
        self._transition(vm, "created", "launch", "user")
        answer = copy.deepcopy(record)  # Fly answers with the machine as created; booting follows
        if not request.get("skip_launch"):
            self._boot_later(vm, source="user")
        return answer

    def start(self, machine_id: str) -> str:
        """Boot a stopped machine; returns the previous state. A started or starting machine is left alone."""
        vm = self._live(machine_id)
        previous = vm.state
        if previous in ("started", "starting"):
            return previous
        if previous in ("stopping", "destroying"):
            raise EmulatorError(412, f"unable to start machine from current state: '{previous}'")
        vm.restart_count = 0
        vm.stop_requested = False
        self._boot_later(vm, source="user")
        return previous

    def stop(self, machine_id: str, *, signal_name: Any = None, timeout: Any = None) -> None:
        """Signal the main process now; SIGKILL the group after the timeout. Stopping a stopped machine is a no-op."""
        vm = self._live(machine_id)
        stop_config = vm.config.get("stop_config") or {}
        sig = parse_signal(signal_name or stop_config.get("signal") or DEFAULT_STOP_SIGNAL, "signal")
        raw_timeout = timeout if timeout is not None else stop_config.get("timeout")
        timeout_s = DEFAULT_STOP_TIMEOUT_S if raw_timeout is None else parse_duration_s(raw_timeout, "timeout")
        if vm.state not in ("starting", "started"):
            return
        vm.stop_requested = True
        process = vm.process
        if process is None:  # not launched yet (boot pending, or between restarts)
            self._transition(vm, "stopped", "stop", "user")
            return
        self._transition(vm, "stopping", "stop", "user", {"signal": sig.name, "timeout_s": timeout_s})
        self._log_line(vm, f"sending {sig.name} to the main process (pid {process.pid}); SIGKILL in {timeout_s:g}s")
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        vm.kill_timer = asyncio.get_running_loop().call_later(timeout_s, self._kill_after_timeout, vm, process)

    async def delete(self, machine_id: str, *, force: bool) -> None:
        vm = self._live(machine_id)
        if vm.state in RUNNING and not force:
            raise EmulatorError(
                412,
                f"failed to destroy VM: unable to destroy machine, not currently stopped (state '{vm.state}'); "
                "stop it first or pass force=true",
            )
        process, supervisor = vm.process, vm.supervisor
        vm.stop_requested = True
        self._transition(vm, "destroying", "destroy", "user")
        if process is not None:
            self._log_line(vm, "destroy: killing the machine")
            kill_group(process.pid)
            if supervisor is not None:
                await supervisor
        self._transition(vm, "destroyed", "destroy", "flyd")

    # -- lifecycle of the emulator itself ---------------------------------------------------------

    async def load(self) -> None:
        """Read the state file; kill orphans of a crashed emulator; boot machines that were started."""
        if self.state_file is None:
            return
        for item in load_state(self.state_file):
            vm = Vm(dict(item["machine"]), restart_count=int(item.get("restart_count", 0)))
            self._vms[vm.id] = vm
            if kill_orphan_group(item.get("pid"), item.get("pid_start")):
                self._log_line(vm, "killed the machine's processes left by a previous emulator")
            if vm.state in ("starting", "started"):
                self._log_line(vm, "the emulator restarted: booting the machine again")
                self._boot_later(vm, source="flyd", event="restart")
            elif vm.state == "stopping":
                self._transition(vm, "stopped", "exit", "flyd")
            elif vm.state == "destroying":
                self._transition(vm, "destroyed", "destroy", "flyd")

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every machine process (its stop signal, SIGKILL after ``timeout_s``) and save the state as it was,
        so the next emulator on this data dir boots the started machines again."""
        self._closing = True
        running = [vm for vm in self._vms.values() if vm.process is not None and vm.process.returncode is None]
        for vm in running:
            assert vm.process is not None
            sig = parse_signal((vm.config.get("stop_config") or {}).get("signal") or DEFAULT_STOP_SIGNAL, "signal")
            self._log_line(vm, f"the emulator is shutting down: sending {sig.name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(vm.process.pid, sig)
        supervisors = [vm.supervisor for vm in running if vm.supervisor is not None]
        if supervisors:
            _, pending = await asyncio.wait(supervisors, timeout=timeout_s)
            for vm in running:
                if vm.process is not None and vm.process.returncode is None:
                    kill_group(vm.process.pid)
            if pending:
                await asyncio.wait(pending, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._persist()

    def root_dir(self, machine_id: str) -> Path:
        return self.data_dir / "machines" / machine_id / "root"

    # -- internals --------------------------------------------------------------------------------

    def _vm(self, machine_id: str) -> Vm:
        vm = self._vms.get(machine_id)
        if vm is None:
            raise EmulatorError(404, f"machine {machine_id} not found")
        return vm

    def _live(self, machine_id: str) -> Vm:
        vm = self._vm(machine_id)
        if vm.state == "destroyed":
            raise EmulatorError(404, f"machine {machine_id} not found (destroyed)")
        return vm

    def _boot_later(self, vm: Vm, *, source: str, event: str = "start", delay_s: float = 0.0) -> None:
        self._transition(vm, "starting", event, source)
        self._spawn_task(self._boot(vm, delay_s))

    async def _boot(self, vm: Vm, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        if vm.state != "starting" or self._closing:
            return  # stopped or destroyed while waiting
        config = vm.config
        try:
            argv = command_for(self.images.resolve(config["image"]), config.get("init"))
            process = await self._spawn(vm, argv)
        except (OSError, ValueError, UnknownImage) as exc:
            self._log_line(vm, f"launch failed: {exc}")
            self._transition(vm, "failed", "launch", "flyd", {"error": str(exc)})
            return
        if vm.state != "starting" or self._closing:  # stopped or destroyed while the process was being created
            kill_group(process.pid)
            await process.wait()
            return
        vm.process, vm.pid_start, vm.started_at = process, process_start_time(process.pid), time.monotonic()
        vm.supervisor = self._spawn_task(self._supervise(vm, process))
        self._transition(vm, "started", "start", "flyd")

    async def _spawn(self, vm: Vm, argv: list[str]) -> asyncio.subprocess.Process:
        log_path = self.log_path(vm.id)
        root = self.root_dir(vm.id)
        root.mkdir(parents=True, exist_ok=True)
        self._log_line(vm, f"booting: {shlex.join(argv)}")
        with log_path.open("ab") as out:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=vm.env(app_name=self.app_name, base_env=self.base_env, root=root),
                cwd=root,
                start_new_session=True,  # its own process group: the "VM" is killed as a whole
            )

    async def _supervise(self, vm: Vm, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        kill_group(process.pid)  # a VM ends with its main process
        if vm.kill_timer is not None:
            vm.kill_timer.cancel()
            vm.kill_timer = None
        vm.process = None
        vm.pid_start = None
        if self._closing:
            return
        ran_s = time.monotonic() - vm.started_at
        exit_event = vm.exit_event(code)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
        self._log_line(vm, f"main process exited with {how} after {ran_s:.1f}s")
        if vm.state == "destroying":
            return  # delete() finishes the transition
        restart = vm.restart_wanted(code)
        exit_event["restarting"] = restart
        request = {"exit_event": exit_event, "restart_count": vm.restart_count}
        if not restart:
            self._transition(vm, "stopped", "exit", "flyd", request)
            return
        vm.restart_count += 1
        delay = min(2.0, 0.1 * 2 ** (vm.restart_count - 1))
        self._log_line(vm, f"restart policy: restarting (restart {vm.restart_count}) in {delay:g}s")
        self._record_event(vm, "exit", "starting", "flyd", request)
        self._boot_later(vm, source="flyd", event="restart", delay_s=delay)

    def _kill_after_timeout(self, vm: Vm, process: asyncio.subprocess.Process) -> None:
        vm.kill_timer = None
        if process.returncode is None:
            self._log_line(vm, "stop timeout reached: SIGKILL")
            kill_group(process.pid)

    def _transition(
        self, vm: Vm, state: str, event: str, source: str, request: Mapping[str, Any] | None = None
    ) -> None:
        vm.record["state"] = state
        self._record_event(vm, event, state, source, request)

    def _record_event(
        self, vm: Vm, event: str, status: str, source: str, request: Mapping[str, Any] | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "id": new_ulid(),
            "type": event,
            "status": status,
            "source": source,
            "timestamp": int(time.time() * 1000),
        }
        if request:
            entry["request"] = dict(request)
        vm.record["events"] = [entry, *vm.record["events"]][:MAX_EVENTS]
        vm.record["updated_at"] = now_rfc3339()
        self._persist()
        log.info("fly_emulator.event", machine_id=vm.id, type=event, status=status, source=source)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _persist(self) -> None:
        if self.state_file is not None:
            save_state(self.state_file, [vm.persisted() for vm in self._vms.values()])

    def _log_line(self, vm: Vm, message: str) -> None:
        append_log_line(self.log_path(vm.id), message)

    def _spawn_task(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
