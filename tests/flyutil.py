"""Helpers for tests against the Fly Machines emulator: small programs a machine runs, and probes.

Each program is a Python snippet run with ``config.init.exec``; it writes what it saw into its
HOME (the machine's root directory), so a test can check what reached the process.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from fly.emulator import FlyEmulator
from fly.models import InitConfig, MachineConfig, RestartPolicy, StopConfig

TOKEN = "test-fly-token-not-a-secret"
BOOT_S = 45.0  # generous: a loaded 2-core machine can take seconds to start a Python process

_IMPORTS = """
import json, os, signal, sys, time
home = os.environ["HOME"]
"""

# Written after any signal handler is installed: once a test sees the boot, a signal meets the handler.
_RECORD_BOOT = """
seen = {k: v for k, v in os.environ.items() if k.startswith(("FLY_", "BOT_"))}
with open(os.path.join(home, "boots"), "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "env": seen}) + "\\n")
boots = sum(1 for _ in open(os.path.join(home, "boots")))
print(f"booted {os.environ['FLY_MACHINE_ID']} (boot {boots})", flush=True)
"""

GRACEFUL = (
    _IMPORTS
    + """
def on_term(signum, frame):
    print("got SIGTERM: flushing and exiting 0", flush=True)
    open(os.path.join(home, "terminated"), "w").write("yes")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
"""
    + _RECORD_BOOT
    + """
while True:
    time.sleep(0.05)
"""
)

STUBBORN = (
    _IMPORTS
    + """
signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM: ignoring it", flush=True))
"""
    + _RECORD_BOOT
    + """
while True:
    time.sleep(0.05)
"""
)


def exits_with(code: int, *, until_boot: int | None = None) -> str:
    """Exits with ``code`` on every boot (or only before boot number ``until_boot``, then keeps running)."""
    keep_running = "" if until_boot is None else f"\nwhile boots >= {until_boot}:\n    time.sleep(0.05)\n"
    return _IMPORTS + _RECORD_BOOT + keep_running + f"\nsys.exit({code})\n"


def machine_config(
    program: str,
    *,
    bot_id: str = "bot-1",
    policy: str = "no",
    max_retries: int | None = None,
    env: dict[str, str] | None = None,
    stop_signal: str | None = None,
) -> MachineConfig:
    return MachineConfig(
        image="registry.fly.io/hmmtrade-bots:test",
        env=env or {"BOT_ID": bot_id},
        metadata={"bot_id": bot_id},
        restart=RestartPolicy(policy=policy, max_retries=max_retries),  # type: ignore[arg-type]
        init=InitConfig(exec=[sys.executable, "-c", program]),
        stop_config=StopConfig(signal=stop_signal) if stop_signal else None,
    )


def boots(emulator: FlyEmulator, machine_id: str) -> list[dict[str, Any]]:
    """What each boot of the machine's process recorded (pid, FLY_* and BOT_* variables)."""
    path = emulator.machines.root_dir(machine_id) / "boots"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False
