"""``hmmtrade exchange-emulator`` serves, keeps its state in --data-dir, and exits cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from events.embedded import free_port
from tests.integration.venues.exchange_fixtures import KEY, SECRET


def test_cli_starts_prints_its_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "stack.cli", "exchange-emulator", "--port", str(port), "--api-key", KEY]
    argv += ["--api-secret", SECRET, "--data-dir", str(tmp_path), "--speed", "0", "--start", "2026-03-02T12:00:00Z"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"exchange emulator on http://127.0.0.1:{port} ("), line
        server_time = httpx.get(f"http://127.0.0.1:{port}/api/v3/time", timeout=10).json()["serverTime"]
        assert server_time == 1772452800000
        state = json.loads((tmp_path / "exchange-emulator.json").read_text())
        assert state["book"]["free"] == {"USDT": "100000"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
