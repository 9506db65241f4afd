"""Billing fixtures: the Stripe emulator, the API on a real port (the emulator must reach
its webhook), and the workers pointed at the emulator with a clock the test moves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from billing.emulator import StripeEmulator
from billing.settings import StripeSettings
from events.embedded import free_port
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login, wait_for
from tests.fakes.clock import FakeClock
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings

WEBHOOK_SECRET = "whsec_test_0123456789abcdef0123456789abcdef"
HOSTED_PROFILE: dict[str, Any] = {**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "surface": "hosted"}}


@pytest.fixture
def api_port() -> int:
    return free_port()


@pytest.fixture
def stripe_emulator(api_port: int) -> Iterator[StripeEmulator]:
    emulator = StripeEmulator(
        webhook_url=f"http://127.0.0.1:{api_port}/api/v1/stripe/webhook", webhook_secret=WEBHOOK_SECRET
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def stripe_settings(stripe_emulator: StripeEmulator, api_port: int) -> StripeSettings:
    return StripeSettings(
        STRIPE_API_BASE=stripe_emulator.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        HMMTRADE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        STRIPE_MAX_NETWORK_RETRIES=2,
    )


@pytest.fixture
async def live_api(
    api_settings: ApiSettings, stripe_settings: StripeSettings, api_port: int
) -> AsyncIterator[httpx.AsyncClient]:
    """The API served by uvicorn on loopback, in this event loop; a client for it."""
    app = create_app(api_settings, stripe=stripe_settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=api_port, log_config=None, access_log=False, lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await wait_for(started, what="uvicorn to start")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=15) as client:
        yield client
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 15)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def billing_workers(
    worker_settings: WorkerSettings, stripe_settings: StripeSettings, clock: FakeClock
) -> AsyncIterator[WorkerRuntime]:
    runtime = await start_workers(worker_settings, stripe=stripe_settings, clock=clock)
    yield runtime
    with contextlib.suppress(Exception):
        await runtime.stop()


async def user_id_of(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await api.get("/api/v1/me", headers=headers)).json()["id"])


async def billing_of(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get("/api/v1/billing", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for_plan(
    api: httpx.AsyncClient, headers: dict[str, str], plan: str, status: str, *, timeout_s: float = 20
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = await billing_of(api, headers)
        return body if (body["plan"], body["status"]) == (plan, status) else None

    return await wait_for(probe, timeout_s=timeout_s, what=f"plan {plan} / {status}")


async def subscribe(
    api: httpx.AsyncClient, emulator: StripeEmulator, headers: dict[str, str], plan: str = "pro"
) -> str:
    """Checkout, pay on the emulator's page (as a browser would), wait for the plan; the subscription id."""
    checkout = await api.post("/api/v1/billing/checkout", json={"plan": plan}, headers=headers)
    assert checkout.status_code == 200, checkout.text
    async with httpx.AsyncClient() as browser:
        paid = await browser.post(checkout.json()["url"])
    assert paid.status_code == 303 and "checkout=success" in paid.headers["location"]
    body = await wait_for_plan(api, headers, plan, "active")
    return str(body["subscription"]["id"])


async def create_bot(api: httpx.AsyncClient, headers: dict[str, str], profile: dict[str, Any]) -> str:
    created = await api.post("/api/v1/bots", json=profile, headers=headers)
    assert created.status_code == 202, created.text
    assert (await intent_settled(api, headers, created.json()["intent_id"]))["status"] == "done"
    return str(created.json()["bot_id"])


__all__ = [
    "HOSTED_PROFILE",
    "WEBHOOK_SECRET",
    "Path",
    "billing_of",
    "create_bot",
    "signup_and_login",
    "subscribe",
    "user_id_of",
    "wait_for_plan",
]
