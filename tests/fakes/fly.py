"""An in-memory fake of the Fly Machines port (``fly.port.Machines``), for unit tests of handlers.

States change at once (no processes); ``tests/integration/test_fly_port_contract.py`` runs the same
scenario against this fake and against the real client on the emulator, so the two agree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from fly.errors import FlyConflict, FlyError, FlyNotFound, FlyWaitTimeout
from fly.models import BOT_ID_KEY, Machine, MachineConfig, WaitState


@dataclass
class FakeMachines:
    """Machines keyed by id; ``fail_next`` raises the given errors on the next calls, in order."""

    machines: dict[str, Machine] = field(default_factory=dict)
    fail_next: list[FlyError] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_next:
            raise self.fail_next.pop(0)

    def _set(self, machine: Machine, state: str) -> Machine:
        updated = machine.model_copy(update={"state": state})
        self.machines[machine.id] = updated
        return updated

    def _live(self, machine_id: str) -> Machine:
        machine = self.machines.get(machine_id)
        if machine is None or machine.state == "destroyed":
            raise FlyNotFound(f"machine {machine_id} not found", status=404)
        return machine

    async def create(
        self, config: MachineConfig, *, name: str | None = None, region: str | None = None, skip_launch: bool = False
    ) -> Machine:
        self._call("create")
        machine_id = f"fake{next(self._ids):010d}"
        machine = Machine(
            id=machine_id, name=name or machine_id, state="created", region=region or "iad", config=config
        )
        self._set(machine, "created" if skip_launch else "started")
        return machine

    async def get(self, machine_id: str) -> Machine:
        self._call("get")
        machine = self.machines.get(machine_id)
        if machine is None:
            raise FlyNotFound(f"machine {machine_id} not found", status=404)
        return machine

    async def find_by_bot(self, bot_id: str) -> Machine | None:
        self._call("find_by_bot")
        live = [
            m
            for m in self.machines.values()
            if m.config.metadata.get(BOT_ID_KEY) == bot_id and m.state not in ("destroying", "destroyed")
        ]
        return live[0] if live else None

    async def start(self, machine_id: str) -> str:
        self._call("start")
        machine = self._live(machine_id)
        self._set(machine, "started")
        return machine.state

    async def stop(self, machine_id: str, *, signal: str = "SIGTERM", timeout_s: float | None = None) -> None:
        self._call("stop")
        machine = self._live(machine_id)
        if machine.state in ("started", "starting"):
            self._set(machine, "stopped")

    async def wait(
        self, machine_id: str, state: WaitState, *, timeout_s: float = 60.0, instance_id: str | None = None
    ) -> None:
        self._call("wait")
        machine = self.machines.get(machine_id)
        if machine is None:
            raise FlyNotFound(f"machine {machine_id} not found", status=404)
        if machine.state != state:
            raise FlyWaitTimeout(f"machine {machine_id} did not reach {state!r} within {timeout_s:g}s", status=408)

    async def delete(self, machine_id: str, *, force: bool = False, missing_ok: bool = False) -> None:
        self._call("delete")
        try:
            machine = self._live(machine_id)
        except FlyNotFound:
            if missing_ok:
                return
            raise
        if machine.state in ("started", "starting", "stopping") and not force:
            raise FlyConflict("unable to destroy machine, not currently stopped", status=412)
        self._set(machine, "destroyed")
