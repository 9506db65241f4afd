"""Finding bot processes by what they run, so a restarted agent never starts a bot twice.

A bot is ``... bot run --config <absolute yaml path> ...`` in its own process group.
The agent may die with SIGKILL while its bots keep running; the next agent finds them
here (pid file first, then a scan of ``/proc``) and adopts them instead of spawning.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid``, or ``[]`` when it is gone, a zombie or not ours to read."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def runs_config(argv: list[str], config: Path) -> bool:
    target = str(config)
    return any(a == "--config" and b == target for a, b in itertools.pairwise(argv)) or (f"--config={target}" in argv)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _proc_state(pid)
    return state not in ("Z", "X")


def _proc_state(pid: int) -> str:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return ""
    # "pid (comm) S ..." and comm may contain spaces or parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""


def running_bot_pid(config: Path, pid_file: Path) -> int | None:
    """The pid of a live process running ``config``: the pid file's if it still matches, else a scan."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().split()[0])
        if is_alive(pid) and runs_config(cmdline(pid), config):
            return pid
    return scan_for(config)


def scan_for(config: Path) -> int | None:
    if not PROC.is_dir():
        return None
    me = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        if runs_config(cmdline(pid), config) and is_alive(pid):
            return pid
    return None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the bot's whole process group (it leads its own session), or just the pid."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid == pid:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
