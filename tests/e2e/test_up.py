"""The README's first command brings the whole stack up; a restart keeps the data."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from events.embedded import free_port
from stack.demo import DEMO_ALPACA_LABEL
from tests.conftest import VALID_PROFILE
from venues.exchange.signing import sign

REPO = Path(__file__).resolve().parents[2]


class Up:
    def __init__(self, data_dir: Path, port: int, out: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
        self.out = out
        with out.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(REPO / "dev"), "up", "--data-dir", str(data_dir), "--api-port", str(port), *extra],
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
def up_dirs(tmp_path: Path) -> tuple[Path, int]:
    return tmp_path / "data", free_port()


async def _anonymous_refused(url: str) -> bool:
    try:
        client = await nats.connect(url, allow_reconnect=False, connect_timeout=2)
    except NatsError as exc:
        return "authorization violation" in str(exc).lower()
    await client.close()
    return False


def _create_bot_as_new_user(http: httpx.Client, email: str) -> str:
    """Sign up, log in and create a bot; its id once the workers have carried the intent out."""
    creds = {"email": email, "password": "correct horse battery"}
    assert http.post("/api/v1/auth/signup", json=creds).status_code == 201
    token = http.post("/api/v1/auth/login", json=creds).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    bot_id = str(http.post("/api/v1/bots", json=VALID_PROFILE, headers=headers).json()["bot_id"])
    deadline = time.monotonic() + 60
    while http.get(f"/api/v1/bots/{bot_id}", headers=headers).status_code != 200:
        assert time.monotonic() < deadline, "the bot never appeared: the intent was not carried out"
        time.sleep(0.1)
    return bot_id


def _url_of(printed: str, service: str) -> str:
    return next(line.split()[1] for line in printed.splitlines() if line.startswith(f"  {service} "))


def _venue_keys(data_dir: Path, name: str) -> tuple[str, str]:
    """The keys ``up`` keeps for one emulator; only the owner may read them."""
    path = data_dir / "keys" / f"{name}-emulator.json"
    assert path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)
    saved = json.loads(path.read_text())
    return saved["key"], saved["secret"]


def _alpaca_clock(url: str, key: str, secret: str) -> httpx.Response:
    return httpx.get(f"{url}/v2/clock", headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}, timeout=5)


def _exchange_account(url: str, key: str, secret: str) -> httpx.Response:
    query = f"timestamp={int(time.time() * 1000)}"
    return httpx.get(
        f"{url}/api/v3/account?{query}&signature={sign(query, secret)}", headers={"X-MBX-APIKEY": key}, timeout=5
    )


def assert_venue_emulators_take_only_their_keys(printed: str, data_dir: Path) -> None:
    """Both venue emulators are on ``up``'s status lines and answer this data dir's keys, and only those."""
    alpaca, exchange = _url_of(printed, "alpaca"), _url_of(printed, "exchange")
    assert "paper keys in" in printed and "Binance-spot emulator" in printed
    key_id, secret_key = _venue_keys(data_dir, "alpaca")
    assert _alpaca_clock(alpaca, key_id, secret_key).status_code == 200
    refused = _alpaca_clock(alpaca, key_id, "not-the-secret")
    assert refused.status_code == 401 and refused.json()["code"] == 40110000
    api_key, api_secret = _venue_keys(data_dir, "exchange")
    assert _exchange_account(exchange, api_key, api_secret).status_code == 200
    assert _exchange_account(exchange, api_key, "not-the-secret").json()["code"] == -1022  # bad signature
    assert _exchange_account(exchange, "not-the-key", api_secret).json()["code"] == -2015


def assert_alpaca_demo_seeded_once(http: httpx.Client, headers: dict[str, str], bots: list[dict[str, Any]]) -> str:
    """One demo Alpaca paper connection and one broker bot on it, however many times ``up`` ran; the bot's id."""
    connections = http.get("/api/v1/brokers", headers=headers).json()["connections"]
    demo = [c for c in connections if c["label"] == DEMO_ALPACA_LABEL]
    assert len(demo) == 1 and demo[0]["kind"] == "alpaca" and demo[0]["paper"] is True, connections
    on_alpaca = [b for b in bots if b["connection_kind"] == "alpaca"]
    assert len(on_alpaca) == 1, bots
    bot = http.get(f"/api/v1/bots/{on_alpaca[0]['id']}", headers=headers).json()
    assert bot["profile"]["broker"]["connection"] == demo[0]["id"]
    assert bot["profile"]["market"]["data_source"] == "broker" and bot["profile"]["basics"]["mode"] == "paper"
    return str(bot["id"])


def _demo_login(http: httpx.Client) -> dict[str, str]:
    demo = http.post("/api/v1/auth/login", json={"email": "demo@hmmtrade.dev", "password": "demo-password-123"})
    assert demo.status_code == 200, demo.text
    return {"Authorization": f"Bearer {demo.json()['access_token']}"}


def wait_for_venue_orders(http: httpx.Client, headers: dict[str, str], bot_id: str, timeout_s: float) -> None:
    """The hosted Alpaca bot's audit shows a decision whose order the emulator accepted (a venue order id)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = http.get(f"/api/v1/bots/{bot_id}/audit", headers=headers).json()["records"]
        sent = [e for r in records for e in r["detail"].get("executions", []) if e.get("venue_order_id")]
        if sent:
            return
        assert time.monotonic() < deadline, f"no order reached the Alpaca emulator: {records[-3:]}"
        time.sleep(0.5)


def test_up_serves_the_api_and_resumes_with_data_intact(up_dirs: tuple[Path, int], tmp_path: Path) -> None:
    data_dir, port = up_dirs
    first = Up(data_dir, port, tmp_path / "up-1.log")
    try:
        first.wait_ready()
        printed = first.out.read_text()
        for service in (
            "nats",
            "postgres",
            "migrate",
            "fly",
            "stripe",
            "alpaca",
            "exchange",
            "api",
            "workers",
            "web",
            "demo",
        ):
            assert f"  {service} " in printed, service
        web = _url_of(printed, "web")
        with httpx.Client(base_url=web, timeout=10) as browser:  # the web app serves its pages and its plans
            assert browser.get("/").status_code == 200
            assert "Create your account" in browser.get("/signup").text
            assert browser.get("/bots").status_code == 200  # a page that asks a visitor to log in
        assert "alpaca paper bot" in printed
        assert asyncio.run(_anonymous_refused(_url_of(printed, "nats"))), (
            "the bus of hmmtrade up took an anonymous client"
        )
        assert_venue_emulators_take_only_their_keys(printed, data_dir)
        keys_before = {name: _venue_keys(data_dir, name) for name in ("alpaca", "exchange")}
        with httpx.Client(base_url=first.base, timeout=10) as http:
            bot_id = _create_bot_as_new_user(http, "persist@example.com")
            demo_headers = _demo_login(http)
            alpaca_bot = assert_alpaca_demo_seeded_once(
                http, demo_headers, http.get("/api/v1/bots", headers=demo_headers).json()["bots"]
            )
            # backfill, first fit, then a decision every 10 s: orders reach the emulator within a minute or two
            wait_for_venue_orders(http, demo_headers, alpaca_bot, timeout_s=180)
    finally:
        assert first.stop() == 0
    assert "Stopped." in first.out.read_text()

    second = Up(data_dir, port, tmp_path / "up-2.log")
    try:
        second.wait_ready()
        assert "migrate   up to date" in second.out.read_text()
        assert {name: _venue_keys(data_dir, name) for name in ("alpaca", "exchange")} == keys_before
        assert_venue_emulators_take_only_their_keys(second.out.read_text(), data_dir)
        with httpx.Client(base_url=second.base, timeout=10) as http:
            login = http.post(
                "/api/v1/auth/login", json={"email": "persist@example.com", "password": "correct horse battery"}
            )
            assert login.status_code == 200
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            bot = http.get(f"/api/v1/bots/{bot_id}", headers=headers)
            assert bot.status_code == 200 and bot.json()["profile"]["basics"]["name"] == "Test bot"
            demo_headers = _demo_login(http)
            demo_bots = http.get("/api/v1/bots", headers=demo_headers).json()["bots"]
            assert len(demo_bots) == 3, "demo seeded once: one local bot, one hosted replay, one on Alpaca"
            assert assert_alpaca_demo_seeded_once(http, demo_headers, demo_bots) == alpaca_bot
            hosted = next(b for b in demo_bots if b["surface"] == "hosted" and b["id"] != alpaca_bot)
            deadline = time.monotonic() + 240  # boot, warm-up fit, first decision, audit ingest
            while not http.get(f"/api/v1/bots/{hosted['id']}/audit", headers=demo_headers).json()["records"]:
                assert time.monotonic() < deadline, "no audit from the hosted demo bot's machine"
                time.sleep(0.5)
    finally:
        assert second.stop() == 0


def test_up_runs_the_bus_as_a_three_node_cluster_on_request(up_dirs: tuple[Path, int], tmp_path: Path) -> None:
    data_dir, port = up_dirs
    up = Up(data_dir, port, tmp_path / "up-cluster.log", "--nats-cluster", "3", "--no-demo")
    try:
        up.wait_ready()
        nodes = _url_of(up.out.read_text(), "nats").split(",")
        assert len(nodes) == 3 and len(set(nodes)) == 3
        for node in nodes:  # every node authenticates its clients
            assert asyncio.run(_anonymous_refused(node)), f"{node} took an anonymous client"
        with httpx.Client(base_url=up.base, timeout=10) as http:
            _create_bot_as_new_user(http, "cluster@example.com")  # the intent went through the cluster
    finally:
        assert up.stop() == 0
    for i in (1, 2, 3):  # each node kept its own replica of the streams
        assert (data_dir / "nats-cluster" / f"hmmtrade-{i}" / "jetstream").is_dir()
