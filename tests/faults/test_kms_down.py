"""The KMS goes away (its process killed): connect and broker_token answer 503 with a clear
message and store or publish nothing; the same calls work once it is back, with no restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from events.bus import Bus
from tests.busutil import count_on_subject
from tests.conftest import signup_and_login, wait_for
from tests.controlplane import KmsProcess
from tests.vaultutil import alpaca, connect, create_bot, machine_headers


@pytest.fixture
def kms_process(tmp_path: Path) -> Iterator[KmsProcess]:
    emulator = KmsProcess(tmp_path / "kms-process" / "keys.json")
    emulator.start()
    yield emulator
    emulator.kill()


@pytest.fixture
async def api_on_process(api_settings: ApiSettings, kms_process: KmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    kms = {"kms_endpoint": kms_process.endpoint, "kms_emulator_token": SecretStr(kms_process.token)}
    settings = api_settings.model_copy(update={**kms, "kms_timeout_s": 1.0})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_kms_outage_refuses_connect_and_broker_token_then_recovers_without_restart(
    api_on_process: httpx.AsyncClient,
    kms_process: KmsProcess,
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
