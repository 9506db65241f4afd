"""A Postgres of a test's own, as a child process it can SIGKILL and start again.

The session's Postgres (``pg_dsn``) is shared by every test and must stay up; a fault test
that kills the database gets its own: the binaries of the ``pgserver`` wheel (as
``store.embedded`` uses), its own data folder, a free loopback port, TCP only. Started
directly (not through ``pg_ctl``), so the test holds the postmaster's pid. As root,
Postgres runs as the ``pgserver`` user, as ``pgserver`` itself does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from events.embedded import free_port


def _bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH  # imported here: the package does filesystem work on import

    return Path(POSTGRES_BIN_PATH)


def _system_user(data_dir: Path) -> str | None:
    """Postgres refuses to run as root: as root, the folder goes to the ``pgserver`` user."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(data_dir)
    os.chown(data_dir, *_ids("pgserver"))
    return "pgserver"


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class PostgresProcess:
    """``postgres -D <data_dir>`` on 127.0.0.1:<port>; ``kill9`` and ``start`` keep both."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._orphans: list[psutil.Process] = []
        data_dir.mkdir(parents=True, exist_ok=True)
        self._user = _system_user(data_dir)
        if not (data_dir / "PG_VERSION").exists():
            initdb = [
                str(_bin_dir() / "initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ]
            subprocess.run(initdb, check=True, capture_output=True, user=self._user)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and return once it accepts connections.

        After a SIGKILL the old backends notice their postmaster is gone and exit on their own; a
        new postmaster refuses to start while any of them still holds the shared memory, so this
        waits for them first (and retries a start that lost that race).
        """
        deadline = time.monotonic() + timeout_s
        self._wait_orphans(deadline)
        while True:
            self._spawn()
            if self._wait_ready(deadline):
                return
            assert time.monotonic() < deadline, f"Postgres did not start:\n{self.log()[-3000:]}"

    def _wait_orphans(self, deadline: float) -> None:
        """Until the killed postmaster's backends have exited (a zombie holds nothing any more)."""
        while self._orphans and time.monotonic() < deadline:
            self._orphans = [p for p in self._orphans if _still_running(p)]
            time.sleep(0.05)
        self._orphans = []

    def _spawn(self) -> None:
        argv = [str(_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=50"]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, user=self._user)

    def _wait_ready(self, deadline: float) -> bool:
        """True once ``pg_isready`` says so; False if the postmaster exited first."""
        assert self.process is not None
        ready = [str(_bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if subprocess.run(ready, capture_output=True).returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def kill9(self) -> None:
        """SIGKILL the postmaster alone, as an OOM killer would; its backends are left to notice."""
        assert self.process is not None and self.process.poll() is None
        self._orphans = psutil.Process(self.process.pid).children()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def freeze(self) -> None:
        """SIGSTOP the server and its backends: a host that accepts but never answers."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: int) -> None:
        assert self.process is not None and self.process.poll() is None
        postmaster = psutil.Process(self.process.pid)
        for process in [postmaster, *postmaster.children()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signum)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._wait_orphans(time.monotonic() + 10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _still_running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
