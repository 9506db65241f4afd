"""The port the lifecycle worker and the wake scheduler depend on; :class:`fly.client.FlyMachines` implements it.

Handler tests pass a hand-written fake of this protocol; integration tests pass the real client
pointed at the emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fly.models import Machine, MachineConfig, WaitState


class Machines(Protocol):
    async def create(
        self, config: MachineConfig, *, name: str | None = None, region: str | None = None, skip_launch: bool = False
    ) -> Machine: ...

    async def get(self, machine_id: str) -> Machine: ...

    async def find_by_bot(self, bot_id: str) -> Machine | None: ...

    async def start(self, machine_id: str) -> str: ...

    async def stop(self, machine_id: str, *, signal: str = "SIGTERM", timeout_s: float | None = None) -> None: ...

    async def wait(
        self, machine_id: str, state: WaitState, *, timeout_s: float = 60.0, instance_id: str | None = None
    ) -> None: ...

    async def delete(self, machine_id: str, *, force: bool = False, missing_ok: bool = False) -> None: ...


if TYPE_CHECKING:
    from fly.client import FlyMachines

    _implements: type[Machines] = FlyMachines  # mypy checks that the client fits the port
