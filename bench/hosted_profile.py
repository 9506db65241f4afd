"""Where a hosted bot's start-up goes, and what its process tree holds in memory (``bench/hosted.py``).

Stages come from what the system already says on the bus, timed on arrival in the bench:
``events.bot.<id>.created`` (the lifecycle worker projected the intent), the boot's lines on
``bots.<id>.log`` (each stamped with the seconds since the boot process started, whose start
time ``/proc/<pid>/stat`` gives), the runner's first ``running`` status (bars loaded, engine
built) and the first ``bots.<id>.tick``. Memory is RSS and PSS (shared pages divided among
their users) from ``/proc/<pid>/smaps_rollup``, summed over each bot's processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

STAMPED = re.compile(r"^boot: \[(?P<age>\d+(?:\.\d+)?)s\] (?P<text>.*)$")

# (label, what ends the stage); each stage starts where the previous one ended
STAGES: tuple[tuple[str, str], ...] = (
    ("API + lifecycle worker (POST -> created)", "created"),
    ("hosting worker + Fly create + spawn", "process"),
    ("interpreter + boot imports", "bot "),
    ("machine token round trip", "machine token received"),
    ("bus creds, profile, broker token", "prepared"),
    ("trader imports", "trader loaded"),
    ("bars, checkpoint, engine, bus", "running"),
    ("warm-up fit + first decision + audit", "tick"),
)


@dataclass
class BootTimeline:
    """One bot's start-up events, as bench-clock times (``time.perf_counter``)."""

    posted: float
    at: dict[str, float] = field(default_factory=dict)
    ages: dict[str, float] = field(default_factory=dict)  # boot line -> seconds since the process started

    def saw(self, what: str, when: float | None = None) -> None:
        self.at.setdefault(what, time.perf_counter() if when is None else when)

    def boot_line(self, line: str) -> None:
        """A line from ``bots.<id>.log``: the stamped boot lines are the in-VM stages."""
        match = STAMPED.match(line)
        if match is None:
            return
        age, text = float(match["age"]), match["text"]
        for _, marker in STAGES:
            if text.startswith(marker):
                self.ages.setdefault(marker, age)
        if "received" in text and not text.startswith("machine token"):
            self.ages["prepared"] = max(self.ages.get("prepared", 0.0), age)

    def stages(self) -> dict[str, float] | None:
        """Seconds per stage, or None while any boundary is missing."""
        times = dict(self.at)
        start = times.get("process")
        if start is None:
            return None
        times.update({marker: start + age for marker, age in self.ages.items()})
        out: dict[str, float] = {}
        previous = self.posted
        for label, marker in STAGES:
            if marker not in times:
                return None
            out[label] = times[marker] - previous
            previous = times[marker]
        return out


def stage_table(timelines: list[BootTimeline]) -> list[tuple[str, float, int]]:
    """Per stage: (label, p50 seconds, bots measured)."""
    complete = [s for s in (t.stages() for t in timelines) if s is not None]
    rows = []
    for label, _ in STAGES:
        values = sorted(s[label] for s in complete)
        rows.append((label, values[len(values) // 2] if values else float("nan"), len(values)))
    return rows


def smaps_mib(pid: int | str) -> tuple[float, float] | None:
    """(RSS, PSS) of one process in MiB, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {
        line.split(":")[0]: int(line.split()[1]) / 1024 for line in text.splitlines() if line[:4] in ("Rss:", "Pss:")
    }
    return values.get("Rss", 0.0), values.get("Pss", 0.0)


@dataclass(frozen=True)
class BotTree:
    """One bot's processes: memory summed, and when the first of them started (bench clock)."""

    rss_mib: float
    pss_mib: float
    started: float
    processes: int


def bot_trees() -> dict[str, BotTree]:
    """Each running bot's processes (``fly.boot`` or ``trader.cli`` with a ``BOT_ID``), by bot id.

    A child forked but not yet exec'd (scikit-learn runs ``lscpu`` once, at the first fit) shows
    its parent's command line and memory for a moment: it is skipped, not counted twice.
    """
    found: dict[str, tuple[str, str, int, float]] = {}  # pid -> (bot, cmdline, ppid, started)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "fly.boot" not in cmdline and "trader.cli" not in cmdline:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            started = _started(proc)
        except OSError:
            continue
        bot = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"BOT_ID=")), None)
        if bot is not None:
            found[proc.name] = (bot, cmdline, ppid, started)
    by_bot: dict[str, BotTree] = {}
    for pid, (bot, cmdline, ppid, started) in found.items():
        parent = found.get(str(ppid))
        memory = smaps_mib(pid)
        if memory is None or (parent is not None and parent[1] == cmdline):
            continue
        seen = by_bot.get(bot, BotTree(0.0, 0.0, started, 0))
        by_bot[bot] = BotTree(
            seen.rss_mib + memory[0], seen.pss_mib + memory[1], min(seen.started, started), seen.processes + 1
        )
    return by_bot


def _started(proc: Path) -> float:
    """When a process started, on the bench's ``time.perf_counter`` clock (to a clock tick)."""
    ticks = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return time.perf_counter() - (uptime_s - ticks / os.sysconf("SC_CLK_TCK"))


BARE_IMPORT = """
import json, sys
import fly.boot, trader.runner, trader.model
rollup = open("/proc/self/smaps_rollup").read().splitlines()
print(json.dumps({l.split(":")[0]: int(l.split()[1]) / 1024 for l in rollup if l[:4] in ("Rss:", "Pss:")}))
"""


def bare_import_mib() -> tuple[float, float]:
    """(RSS, PSS) of a fresh interpreter that only imports what a hosted bot runs: the floor."""
    out = subprocess.run([sys.executable, "-c", BARE_IMPORT], capture_output=True, text=True, check=True).stdout
    values = json.loads(out.strip().splitlines()[-1])
    return values["Rss"], values["Pss"]
