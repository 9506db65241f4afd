"""One emulated machine: its Fly record, the local process that plays its VM, and the helpers both need."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fly.emu_config import DEFAULT_MAX_RETRIES

PASSTHROUGH_ENV = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Host variables a machine inherits (a VM has its own environment; these only make the local
interpreter work the same). Everything else comes from ``config.env`` and Fly's ``FLY_*``."""


@dataclass
class Vm:
    """One machine: its Fly record plus the local process that plays its VM."""

    record: dict[str, Any]
    restart_count: int = 0
    process: asyncio.subprocess.Process | None = None
    pid_start: int | None = None
    started_at: float = 0.0
    supervisor: asyncio.Task[None] | None = None
    kill_timer: asyncio.TimerHandle | None = None
    stop_requested: bool = False

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def state(self) -> str:
        return str(self.record["state"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record["config"])

    def persisted(self) -> dict[str, Any]:
        pid = self.process.pid if self.process and self.process.returncode is None else None
        return {"machine": self.record, "restart_count": self.restart_count, "pid": pid, "pid_start": self.pid_start}

    def env(self, *, app_name: str, base_env: Mapping[str, str], root: Path) -> dict[str, str]:
        """What the process sees: host basics, HOME, the config's env, then Fly's own variables."""
        config = self.config
        guest = config.get("guest") or {}
        return {
            **base_env,
            "HOME": str(root),
            **config.get("env", {}),
            "FLY_APP_NAME": app_name,
            "FLY_MACHINE_ID": self.id,
            "FLY_ALLOC_ID": self.id,
            "FLY_REGION": str(self.record["region"]),
            "FLY_IMAGE_REF": str(config["image"]),
            "FLY_PRIVATE_IP": str(self.record["private_ip"]),
            "FLY_VM_MEMORY_MB": str(guest.get("memory_mb", 256)),
        }

    def restart_wanted(self, code: int) -> bool:
        """The restart policy's answer to an exit with ``code`` (negative: killed by that signal)."""
        if self.stop_requested:
            return False
        restart = self.config.get("restart") or {}
        policy = restart.get("policy", "on-failure")
        if policy == "always":
            return True
        if policy == "on-failure" and code != 0:
            max_retries = restart.get("max_retries")
            return self.restart_count < (DEFAULT_MAX_RETRIES if max_retries is None else int(max_retries))
        return False

    def exit_event(self, code: int) -> dict[str, Any]:
        """Fly's ``exit_event`` for a main process that ended with ``code``."""
        return {
            "exit_code": code if code >= 0 else 128 - code,
            "signal": -code if code < 0 else -1,
            "requested_stop": self.stop_requested,
            "oom_killed": False,
        }


def passthrough_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in PASSTHROUGH_ENV if name in environ}


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def append_log_line(path: Path, message: str) -> None:
    """One ``[fly-emulator]`` line in a machine's log (appends are atomic next to the process's own writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(f"[fly-emulator] {now_rfc3339()} {message}\n".encode())


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    """A ULID-shaped id like Fly's instance and event ids."""
    millis = int(time.time() * 1000)
    head = "".join(_CROCKFORD[(millis >> (5 * i)) & 31] for i in reversed(range(10)))
    return head + "".join(secrets.choice(_CROCKFORD) for _ in range(16))
