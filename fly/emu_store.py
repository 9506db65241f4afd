"""The Machines emulator's state file: every machine record, written atomically after each change.

With a data dir the emulator survives its own restart like a Fly host reboot: records come
back, machines that were started boot again, and processes orphaned by a ``kill -9`` of the
emulator are killed first (their pid and kernel start time are in the record, so a recycled
pid is never hit). Without a data dir the state lives in memory only and logs go to a
temporary directory that is removed on shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

STATE_VERSION = 1


def save_state(path: Path, records: list[dict[str, Any]]) -> None:
    """Owner-only (0600): a machine's config env carries its boot credential."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    data = json.dumps({"version": STATE_VERSION, "machines": records}, indent=1, sort_keys=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # a leftover .tmp from a crash keeps its old mode through O_CREAT
        out.write(data)
    os.replace(tmp, path)


def load_state(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(
            f"the Fly emulator state file {path} is not valid JSON ({exc}): move it away to start empty"
        ) from exc
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION or not isinstance(raw.get("machines"), list):
        raise ValueError(f"the Fly emulator state file {path} has an unknown format: move it away to start empty")
    return list(raw["machines"])


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone or unknowable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return None


def kill_orphan_group(pid: int | None, started: int | None) -> bool:
    """SIGKILL the process group of a machine process left behind by a previous emulator, if it is still that one."""
    if not pid or started is None or process_start_time(pid) != started:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        return True
    return False
