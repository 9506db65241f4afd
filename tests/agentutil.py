"""Helpers for agent tests: homes with bots, the agent as a child process, bus readers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy

from agent import procs
from agent.home import AgentHome
from agent.instances import write_instance
from contracts.profile import BotProfile
from events.bus import connect
from tests.bars_data import small_profile, write_bars_csv

REPO = Path(__file__).resolve().parents[1]


def home_with_bots(root: Path, count: int = 1, *, bars: int = 600, **model: Any) -> tuple[AgentHome, list[str]]:
    """An agent home with ``count`` bots replaying ``bars`` S&P 500 bars from a CSV."""
    home = AgentHome.at(root)
    data = write_bars_csv(root / "bars.csv", bars)
    ids = []
    for n in range(count):
        body = small_profile(data, **model).model_dump(mode="json")
        body["basics"]["name"] = f"bot {n}"
        ids.append(write_instance(home, BotProfile.model_validate(body)).bot_id)
    return home, ids


def processes_running(home: AgentHome, bot_id: str) -> list[int]:
    """Every live process running this bot's config (must never be more than one)."""
    target = home.config_path(bot_id)
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid and procs.runs_config(procs.cmdline(pid), target) and procs.is_alive(pid):
            found.append(pid)
    return found


async def audit_on_bus(url: str, bot_id: str) -> list[dict[str, Any]]:
    """Every audit record of ``bot_id`` stored in the BOTS stream, in stream order."""
    nc = await connect(url, name="test-audit-reader")
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            f"bots.{bot_id}.audit", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30)
        )
        out: list[dict[str, Any]] = []
        while True:
            try:
                batch = await sub.fetch(500, timeout=1)
            except Exception:
                break
            for msg in batch:
                out.append(json.loads(msg.data))
                await msg.ack()
        return out
    finally:
        await nc.close()


class AgentProcess:
    """``hmmtrade agent`` as a child (so tests can SIGKILL it)."""

    def __init__(self, home: Path, port: int, *, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stack.cli", "agent", "--home", str(home), "--port", str(port)],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"agent exited:\n{self.log.read_text()[-3000:]}"
            if "HMM Trade agent: http" in self.log.read_text():
                return
            time.sleep(0.1)
        raise AssertionError(f"agent not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)
