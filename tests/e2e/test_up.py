"""The README's first command brings the whole stack up; a restart keeps the data."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from events.embedded import free_port
from tests.conftest import VALID_PROFILE

REPO = Path(__file__).resolve().parents[2]


class Up:
    def __init__(self, data_dir: Path, port: int, out: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
        self.out = out
        with out.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(REPO / "dev"), "up", "--data-dir", str(data_dir), "--api-port", str(port)],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"hmmtrade up exited early:\n{self.out.read_text()[-3000:]}"
            if "Ready." in self.out.read_text():
                assert httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
                return
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout_s}s:\n{self.out.read_text()[-3000:]}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


@pytest.fixture
def up_dirs(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    return tmp_path / "data", free_port()


async def _anonymous_refused(url: str) -> bool:
    try:
        client = await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    except NatsError as exc:
        return "authorization violation" in str(exc).lower()
    await client.close()
    return False


def test_up_serves_the_api_and_resumes_with_data_intact(up_dirs: tuple[Path, int], tmp_path: Path) -> None:
    data_dir, port = up_dirs
    first = Up(data_dir, port, tmp_path / "up-1.log")
    try:
        first.wait_ready()
        printed = first.out.read_text()
        for service in ("nats", "postgres", "migrate", "fly", "stripe", "api", "workers", "demo"):
            assert f"  {service} " in printed, service
        nats_url = next(line.split()[1] for line in printed.splitlines() if line.startswith("  nats "))
        assert asyncio.run(_anonymous_refused(nats_url)), "the bus of hmmtrade up took an anonymous client"
        with httpx.Client(base_url=first.base, timeout=10) as http:
            creds = {"email": "persist@example.com", "password": "correct horse battery"}
            assert http.post("/api/v1/auth/signup", json=creds).status_code == 201
            token = http.post("/api/v1/auth/login", json=creds).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            bot_id = http.post("/api/v1/bots", json=VALID_PROFILE, headers=headers).json()["bot_id"]
            deadline = time.monotonic() + 30
            while http.get(f"/api/v1/bots/{bot_id}", headers=headers).status_code != 200:
                assert time.monotonic() < deadline, "the bot never appeared"
                time.sleep(0.1)
    finally:
        assert first.stop() == 0
    assert "Stopped." in first.out.read_text()

    second = Up(data_dir, port, tmp_path / "up-2.log")
    try:
        second.wait_ready()
        assert "migrate   up to date" in second.out.read_text()
        with httpx.Client(base_url=second.base, timeout=10) as http:
            login = http.post(
                "/api/v1/auth/login", json={"email": "persist@example.com", "password": "correct horse battery"}
            )
            assert login.status_code == 200
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            bot = http.get(f"/api/v1/bots/{bot_id}", headers=headers)
            assert bot.status_code == 200 and bot.json()["profile"]["basics"]["name"] == "Test bot"
            demo = http.post("/api/v1/auth/login", json={"email": "demo@hmmtrade.dev", "password": "demo-password-123"})
            demo_headers = {"Authorization": f"Bearer {demo.json()['access_token']}"}
            demo_bots = http.get("/api/v1/bots", headers=demo_headers).json()["bots"]
            assert len(demo_bots) == 2, "demo seeded once: one local bot, one hosted"
            hosted = next(b for b in demo_bots if b["surface"] == "hosted")
            deadline = time.monotonic() + 240  # boot, warm-up fit, first decision, audit ingest
            while not http.get(f"/api/v1/bots/{hosted['id']}/audit", headers=demo_headers).json()["records"]:
                assert time.monotonic() < deadline, "no audit from the hosted demo bot's machine"
                time.sleep(0.5)
    finally:
        assert second.stop() == 0
