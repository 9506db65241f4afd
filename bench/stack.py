"""Start a private ``hmmtrade up`` for a benchmark and stop it afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from events.bus import connect_options
from events.embedded import free_port


@dataclass(frozen=True)
class LocalStack:
    api_url: str
    api_host: str
    api_port: int
    nats_url: str
    data_dir: Path
    up_pid: int  # the ``hmmtrade up`` process; its children are the stack's services
    database_url: str = ""

    def nats_options(self) -> dict[str, Any]:
        """Connect as the stack's admin (its bus admits no anonymous client)."""
        creds = self.data_dir / "keys" / "bus" / "admin.creds"
        return connect_options(creds if creds.exists() else None)


@contextmanager
def local_stack(
    extra_env: dict[str, str] | None = None, *, timeout_s: float = 120, up_args: tuple[str, ...] = ()
) -> Iterator[LocalStack]:
    """``hmmtrade up --no-demo`` (plus ``up_args``) in a temporary data dir, on a free API port."""
    with tempfile.TemporaryDirectory(prefix="hmmtrade-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_CREDS", "DATABASE_URL")}
        env.update({"HMMTRADE_LOG_LEVEL": "WARNING", **(extra_env or {})})
        out_path = Path(tmp) / "up.out"
        hmmtrade = Path(sys.executable).parent / "hmmtrade"
        with out_path.open("wb") as out:
            process = subprocess.Popen(
                [str(hmmtrade), "up", "--data-dir", str(data_dir), "--api-port", str(port), "--no-demo", *up_args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + timeout_s
            while "Ready." not in out_path.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hmmtrade up failed to start:\n{out_path.read_text()[-3000:]}")
                time.sleep(0.1)
            printed = out_path.read_text()
            match = re.search(r"nats\s+(nats://\S+)", printed)
            assert match is not None, printed
            database = re.search(r"postgres\s+(postgresql://\S+)", printed)
            yield LocalStack(
                f"http://127.0.0.1:{port}",
                "127.0.0.1",
                port,
                match.group(1),
                data_dir,
                process.pid,
                database.group(1) if database else "",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
