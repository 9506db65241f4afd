"""The Fly Machines wire shapes we send and read (the subset the hosted bots use).

Responses are parsed leniently (Fly adds fields over time; unknown ones are ignored) and
machine states are plain strings, since Fly has more states than the ones we act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MachineState = str
"""created, starting, started, stopping, stopped, destroying, destroyed, failed (and Fly's others)."""

WaitState = Literal["started", "stopped", "suspended", "destroyed"]
"""The states Fly's ``/wait`` endpoint accepts."""

RestartPolicyName = Literal["no", "always", "on-failure"]

BOT_ID_KEY = "bot_id"
"""Metadata key that ties a machine to its bot; the lifecycle worker looks machines up by it."""


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Guest(_Wire):
    """VM size. Bots get one shared CPU and 1 GB of RAM."""

    cpu_kind: Literal["shared", "performance"] = "shared"
    cpus: int = Field(default=1, ge=1, le=16)
    memory_mb: int = Field(default=1024, ge=256)


class RestartPolicy(_Wire):
    """What Fly does when the main process exits: ``no``, ``always``, or ``on-failure`` (non-zero exit)."""

    policy: RestartPolicyName = "on-failure"
    max_retries: int | None = Field(default=None, ge=0, description="on-failure only; Fly's default is 10")


class StopConfig(_Wire):
    """Default signal and grace period for a stop that names neither."""

    signal: str | None = None
    timeout: str | None = Field(default=None, description="Go duration, e.g. '30s'")


class InitConfig(_Wire):
    """Overrides of the image's ENTRYPOINT/CMD, as Fly's ``config.init``."""

    exec: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None


class MachineConfig(_Wire):
    """``config`` of a machine: image, env, size, restart policy, metadata."""

    image: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    guest: Guest = Field(default_factory=Guest)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    metadata: dict[str, str] = Field(default_factory=dict)
    init: InitConfig | None = None
    stop_config: StopConfig | None = None
    auto_destroy: bool = False

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class MachineEvent(_Wire):
    """One entry of a machine's event log (newest first, as Fly returns them)."""

    type: str
    status: str
    source: str = ""
    timestamp: int = 0
    request: dict[str, Any] | None = None


class Machine(_Wire):
    """A machine as ``GET /v1/apps/{app}/machines/{id}`` returns it."""

    id: str
    name: str = ""
    state: MachineState
    region: str = ""
    instance_id: str = ""
    private_ip: str = ""
    config: MachineConfig
    created_at: str = ""
    updated_at: str = ""
    events: list[MachineEvent] = Field(default_factory=list)

    @property
    def bot_id(self) -> str | None:
        return self.config.metadata.get(BOT_ID_KEY)


def bot_machine_config(
    *,
    bot_id: str,
    image: str,
    env: Mapping[str, str],
    restart: RestartPolicy | None = None,
    stop_timeout_s: int = 30,
) -> MachineConfig:
    """The config of one hosted bot's machine: 1 GB shared CPU, restarted on crashes, tagged with the bot id.

    A clean exit (``--once`` done, end of replay) stops the machine, which is what scale-to-zero needs;
    SIGTERM with ``stop_timeout_s`` of grace lets the boot entrypoint flush the audit before SIGKILL.
    """
    return MachineConfig(
        image=image,
        env=dict(env),
        guest=Guest(cpu_kind="shared", cpus=1, memory_mb=1024),
        restart=restart or RestartPolicy(policy="on-failure", max_retries=3),
        metadata={BOT_ID_KEY: bot_id},
        stop_config=StopConfig(signal="SIGTERM", timeout=f"{stop_timeout_s}s"),
    )
