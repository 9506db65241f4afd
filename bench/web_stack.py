"""The whole product for ``bench.web``: ``hmmtrade up --no-demo`` as a subprocess, its URLs read from
what it prints, the web app's process found among its children, and /proc readings of processes.

``bench/stack.py`` starts the same command for the API benches, but without a web port and stopped
with SIGTERM; this one passes ``--web-port`` and stops it with SIGINT (Ctrl-C, what a user does),
always, and finds the ``stack.cli web`` child so its memory and CPU can be read.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from events.embedded import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WebStack:
    api_url: str
    web_url: str
    nats_url: str
    data_dir: Path
    up_pid: int
    web_port: int

    @property
    def admin_creds(self) -> Path:
        """``hmmtrade up`` writes each bus role's credentials here; admin may publish anything."""
        return self.data_dir / "keys" / "bus" / "admin.creds"

    def web_pid(self) -> int:
        """The ``stack.cli web`` child serving ``web_port`` (looked up each time: ``up`` restarts a dead child)."""
        for pid in children_of(self.up_pid):
            argv = cmdline(pid)
            if "stack.cli" in argv and "web" in argv and str(self.web_port) in argv:
                return pid
        raise RuntimeError(f"no 'stack.cli web --port {self.web_port}' child under hmmtrade up (pid {self.up_pid})")


@contextmanager
def web_stack(
    extra_env: dict[str, str] | None = None, *, logs_to: Path | None = None, timeout_s: float = 180
) -> Iterator[WebStack]:
    """``hmmtrade up --no-demo`` in a temporary data dir on free API and web ports; SIGINT at the end.

    The services' logs are copied to ``logs_to`` (replacing what is there) before the data dir goes."""
    with tempfile.TemporaryDirectory(prefix="hmmtrade-bench-web-") as tmp:
        data_dir = Path(tmp) / "data"
        api_port, web_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_CREDS", "DATABASE_URL")}
        env.update({"HMMTRADE_LOG_LEVEL": "WARNING", **(extra_env or {})})
        out_path = Path(tmp) / "up.out"
        hmmtrade = Path(sys.executable).parent / "hmmtrade"
        argv = [str(hmmtrade), "up", "--no-demo", "--data-dir", str(data_dir)]
        argv += ["--api-port", str(api_port), "--web-port", str(web_port)]
        with out_path.open("wb") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while "Ready." not in out_path.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hmmtrade up failed to start:\n{_failure(out_path.read_text())}")
                time.sleep(0.1)
            printed = out_path.read_text()
            urls = {name: _printed_url(printed, name) for name in ("nats", "api", "web")}
            actual_web_port = int(urls["web"].rsplit(":", 1)[1])  # up picks another when the one asked is taken
            yield WebStack(urls["api"], urls["web"], urls["nats"], data_dir, process.pid, actual_web_port)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if logs_to is not None and (data_dir / "logs").is_dir():
                shutil.rmtree(logs_to, ignore_errors=True)
                shutil.copytree(data_dir / "logs", logs_to)
                (logs_to / "up.out").write_bytes(out_path.read_bytes())


def _failure(printed: str) -> str:
    """What ``up`` printed, plus the end of the log it names (the data dir is deleted afterwards)."""
    shown = printed[-3000:]
    named = re.search(r"see (\S+\.log)", printed)
    if named is not None and Path(named.group(1)).exists():
        shown += f"\n--- {named.group(1)}:\n" + Path(named.group(1)).read_text()[-3000:]
    return shown


def _printed_url(printed: str, service: str) -> str:
    match = re.search(rf"^\s*{service}\s+((?:nats|http)://\S+)", printed, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"hmmtrade up printed no {service} URL:\n{printed[-3000:]}")
    return match.group(1)


# ---- /proc ---------------------------------------------------------------------------------
def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(root: int) -> list[int]:
    """Every live descendant of ``root`` (walks /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _ppid(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far (0 for a process that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mib(pid: int) -> tuple[float, float | None]:
    """(RSS, PSS) in MiB; PSS is None when smaps_rollup is not readable (older kernels, other users)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        raise RuntimeError(f"process {pid} is gone (did the web app die? see the web-logs folder)") from exc
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        pss_kb: int | None = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    except (OSError, StopIteration):
        pss_kb = None
    return rss_kb / 1024, None if pss_kb is None else pss_kb / 1024


def browser_pids() -> list[int]:
    """The Chromium processes this bench started (descendants of this process named chrom*)."""
    pids = []
    for pid in children_of(os.getpid()):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("chrom"):
            pids.append(pid)
    return pids


def run_when_idle(pids: list[int]) -> None:
    """Put every thread of these processes under SCHED_IDLE: they run only when nothing else wants the
    CPU. Threads and processes they start later inherit it (Chromium forks renderers from its zygote)."""
    for pid in pids:
        try:
            tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            except (ProcessLookupError, PermissionError):
                continue
