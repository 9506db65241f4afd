"""Past the backlog bound the API refuses bot intents with 503 + Retry-After; what it accepted is all done."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login, wait_for
from workers.app import start_workers
from workers.settings import WorkerSettings

BOUND = 20


@pytest.fixture
async def bounded_api(api_settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings.model_copy(update={"intent_backlog_max": BOUND}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_backlog_over_the_bound_is_refused_with_retry_after_and_every_accepted_intent_is_done(
    bounded_api: httpx.AsyncClient, worker_settings: WorkerSettings, db: asyncpg.Connection
) -> None:
    api = bounded_api
    auth = await signup_and_login(api)
    user_id = (await api.get("/api/v1/me", headers=auth)).json()["id"]
    runtime = await start_workers(worker_settings)
    created = (await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)).json()
    assert (await intent_settled(api, auth, created["intent_id"]))["status"] == "done"
    await runtime.stop()  # the workers are away: the backlog only grows
    bot = created["bot_id"]
    accepted: list[tuple[str, str]] = []  # (intent id, action)

    async def refused() -> httpx.Response | None:
        action = "start" if len(accepted) % 2 == 0 else "stop"
        response = await api.post(f"/api/v1/bots/{bot}/{action}", headers=auth)
        if response.status_code == 202:
            accepted.append((response.json()["intent_id"], action))
            return None
        return response

    response = await wait_for(refused, timeout_s=30, interval_s=0.01, what="a refusal past the bound")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 30
    assert f"the limit is {BOUND}" in response.json()["detail"]
    assert "nothing was changed" in response.json()["detail"]
    assert len(accepted) > BOUND
    ready = await api.get("/readyz")
    assert ready.status_code == 200  # still ready: reads and everything else are served
    assert ready.json()["intent_backlog"] == {"waiting": len(accepted), "limit": BOUND, "accepting": False}
    # the refusing request's own read came after every accepted publish, so the count is exact;
    # a refused request published nothing: only the accepted intents exist
    assert await db.fetchval("SELECT count(*) FROM intents WHERE user_id = $1::uuid", user_id) == len(accepted) + 1

    runtime = await start_workers(worker_settings)
    try:
        for intent_id, _ in accepted:
            assert (await intent_settled(api, auth, intent_id, timeout_s=60))["status"] == "done"
        last = {"start": "starting", "stop": "stopped"}[accepted[-1][1]]
        assert (await api.get(f"/api/v1/bots/{bot}", headers=auth)).json()["status"] == last  # in order

        async def accepting_again() -> httpx.Response | None:
            response = await api.post(f"/api/v1/bots/{bot}/stop", headers=auth)
            return response if response.status_code == 202 else None

        again = await wait_for(accepting_again, timeout_s=30, interval_s=0.1, what="the API to accept again")
        assert (await intent_settled(api, auth, again.json()["intent_id"], timeout_s=30))["status"] == "done"

        async def drained() -> bool:  # /readyz reads the backlog at most every 0.25 s
            backlog = (await api.get("/readyz")).json()["intent_backlog"]
            return bool(backlog == {"waiting": 0, "limit": BOUND, "accepting": True})

        await wait_for(drained, what="/readyz to report an empty backlog")
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop()
