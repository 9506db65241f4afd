"""The bus goes down: the API refuses changes with 503 and writes nothing; it recovers by itself."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from events.embedded import NatsServer
from tests.busauth import BUS_KEYS
from tests.conftest import VALID_PROFILE, intent_settled, wait_for


async def test_bot_creation_answers_503_while_the_bus_is_down_and_recovers_without_restart(
    nats_server: NatsServer, api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection
) -> None:
    user_id = (await api.get("/api/v1/me", headers=auth)).json()["id"]
    nats_server.kill()

    refused = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert "nothing was changed" in refused.json()["detail"]
    assert refused.headers["retry-after"]
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["bus"] == "unreachable"

    # the same server comes back on the same port with the same JetStream store
    revived = NatsServer(nats_server.store_dir, keys=BUS_KEYS, port=nats_server.port).start()
    nats_server.process = revived.process  # so the fixture stops the new server at the end

    async def accepted() -> httpx.Response | None:
        response = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
        return response if response.status_code == 202 else None

    response = await wait_for(accepted, timeout_s=30, interval_s=0.2, what="the API to accept again")
    assert (await intent_settled(api, auth, response.json()["intent_id"], timeout_s=30))["status"] == "done"
    # exactly one intent and one bot: the refused request left nothing behind on either side
    assert await db.fetchval("SELECT count(*) FROM intents WHERE user_id = $1::uuid", user_id) == 1
    assert len((await api.get("/api/v1/bots", headers=auth)).json()["bots"]) == 1
    assert (await api.get("/readyz")).status_code == 200
