"""The KMS goes away (its process killed): connect and broker_token answer 503 with a clear
message and store or publish nothing; the same calls work once it is back, with no restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from events.bus import Bus
from stack.kms_child import free_port, wait_kms_ready
from tests.busutil import count_on_subject
from tests.conftest import signup_and_login, wait_for
from tests.vaultutil import alpaca, connect, create_bot, machine_headers
from vault.emulator.server import DEFAULT_KEY_NAME

REPO = Path(__file__).resolve().parents[2]


class EmulatorProcess:
    """``hmmtrade kms-emulator`` as a child process on a fixed port and key file."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.port = free_port(0)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "stack.cli", "kms-emulator", "--port", str(self.port)]
        argv += ["--key-file", str(self.key_file), "--key", DEFAULT_KEY_NAME]
        self.process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_kms_ready(self.endpoint, DEFAULT_KEY_NAME)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def kms_process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path / "kms-process" / "keys.json")
    emulator.start()
    yield emulator
    emulator.kill()


@pytest.fixture
async def api_on_process(api_settings: ApiSettings, kms_process: EmulatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings.model_copy(update={"kms_endpoint": kms_process.endpoint, "kms_timeout_s": 1.0})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_kms_outage_refuses_connect_and_broker_token_then_recovers_without_restart(
    api_on_process: httpx.AsyncClient,
    kms_process: EmulatorProcess,
    workers: Any,
    db: asyncpg.Connection,
    bus: Bus,
    api_settings: ApiSettings,
) -> None:
    api = api_on_process
    auth = await signup_and_login(api)
    user_id = (await api.get("/api/v1/me", headers=auth)).json()["id"]
    connection_id = await connect(api, auth, alpaca("kept-through-the-outage"))
    bot_id = await create_bot(api, auth, connection_id)
    machine = await machine_headers(db, api_settings, bot_id)
    assert (
        await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    ).status_code == 200
    published_before = await count_on_subject(bus.js, "INTENTS", "intents.broker.connect")

    kms_process.kill()
    started = time.monotonic()
    refused = await api.post("/api/v1/brokers", json=alpaca("never-stored"), headers=auth)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json" and refused.headers["retry-after"]
    assert refused.json()["detail"].startswith("The key management service is unavailable")
    assert "not saved" in refused.json()["detail"]
    token = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert token.status_code == 503 and "can't be decrypted" in token.json()["detail"]
    assert "kept-through-the-outage" not in token.text
    assert time.monotonic() - started < 30  # answered, not hung (the bound is the 1 s KMS timeout plus retries)
    # nothing stored, nothing published by the refused connect
    assert await count_on_subject(bus.js, "INTENTS", "intents.broker.connect") == published_before
    assert await db.fetchval("SELECT count(*) FROM broker_connections WHERE user_id = $1::uuid", user_id) == 1
    # the bot's running state is untouched: its profile still loads (no KMS needed)
    assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)).status_code == 200

    kms_process.start()  # same port, same key file; the API is not restarted

    async def connected() -> httpx.Response | None:
        response = await api.post("/api/v1/brokers", json=alpaca("after-the-outage"), headers=auth)
        return response if response.status_code == 202 else None

    await wait_for(connected, timeout_s=30, interval_s=0.2, what="connect to work again")
    bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert bundle.status_code == 200
    assert bundle.json()["credentials"]["api_secret_key"] == "kept-through-the-outage"

    async def two_connections() -> list[Any] | None:
        listed = (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]
        return listed if len(listed) == 2 else None

    await wait_for(two_connections, what="the new connection to be stored")
