"""``GET /api/v1/status`` against the real pieces: nats-server, Postgres, and the KMS, Fly
Machines and Stripe emulators on loopback ports. An outage of one vendor shows as that
component ``down`` (the others ``ok``) and clears once the vendor is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from billing.emulator import StripeEmulator
from billing.settings import StripeSettings
from fly.emulator import FlyEmulator
from tests.conftest import FLY_TOKEN, wait_for
from vault.emulator import KmsEmulator

COMPONENTS = ["api", "bus", "database", "fly", "kms", "stripe"]


@pytest.fixture
def stripe_emulator() -> Iterator[StripeEmulator]:
    emulator = StripeEmulator().start()
    yield emulator
    emulator.stop()


def _settings(api_settings: ApiSettings, fly: FlyEmulator, **changes: Any) -> ApiSettings:
    return api_settings.model_copy(
        update={
            "fly_api_hostname": fly.url,
            "fly_api_token": SecretStr(FLY_TOKEN),
            "fly_app_name": fly.app_name,
            "status_cache_s": 1.0,  # polls see a change within a second
            **changes,
        }
    )


async def _client(settings: ApiSettings, stripe: StripeEmulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, stripe=StripeSettings(STRIPE_API_BASE=stripe.url, STRIPE_MAX_NETWORK_RETRIES=0))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


@pytest.fixture
async def public(
    api_settings: ApiSettings, emulator: FlyEmulator, stripe_emulator: StripeEmulator
) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous caller of the API (no token)."""
    async for http in _client(_settings(api_settings, emulator), stripe_emulator):
        yield http


async def _status(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v1/status")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _by_name(report: dict[str, Any]) -> dict[str, str]:
    return {c["component"]: c["status"] for c in report["components"]}


async def _until(http: httpx.AsyncClient, want: dict[str, str], what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        report = await _status(http)
        return report if _by_name(report) == want else None

    return await wait_for(probe, timeout_s=30, what=what)


ALL_OK = dict.fromkeys(COMPONENTS, "ok")


async def test_every_component_is_ok_and_nothing_secret_is_shown(
    public: httpx.AsyncClient, kms_emulator: KmsEmulator, emulator: FlyEmulator, stripe_emulator: StripeEmulator
) -> None:
    report = await _until(public, ALL_OK, "every component ok")
    assert report["status"] == "ok"
    assert sorted(c["component"] for c in report["components"]) == COMPONENTS
    body = (await public.get("/api/v1/status")).text
    for secret in (kms_emulator.token, FLY_TOKEN, stripe_emulator.secret_key, "http://", "127.0.0.1"):
        assert secret not in body
    assert "max-age" in (await public.get("/api/v1/status")).headers["cache-control"]


async def test_a_stopped_kms_shows_as_down_and_ok_again_after_its_restart(
    public: httpx.AsyncClient, kms_emulator: KmsEmulator
) -> None:
    await _until(public, ALL_OK, "every component ok")
    kms_emulator.stop()
    report = await _until(public, {**ALL_OK, "kms": "down"}, "kms down")
    assert report["status"] == "degraded"  # running bots keep trading; launches wait for KMS
    [kms] = [c for c in report["components"] if c["component"] == "kms"]
    assert "key management service" in kms["detail"]
    kms_emulator.start()  # the same port
    await _until(public, ALL_OK, "kms ok again")


async def test_a_fly_outage_shows_as_down_and_clears(public: httpx.AsyncClient, emulator: FlyEmulator) -> None:
    await _until(public, ALL_OK, "every component ok")
    emulator.faults.outage = True
    report = await _until(public, {**ALL_OK, "fly": "down"}, "fly down")
    [fly] = [c for c in report["components"] if c["component"] == "fly"]
    assert fly["detail"] == "Fly Machines answered 503"
    emulator.faults.outage = False
    await _until(public, ALL_OK, "fly ok again")


async def test_a_stripe_outage_shows_as_down_and_clears(
    public: httpx.AsyncClient, stripe_emulator: StripeEmulator
) -> None:
    await _until(public, ALL_OK, "every component ok")
    stripe_emulator.outage = True
    await _until(public, {**ALL_OK, "stripe": "down"}, "stripe down")
    stripe_emulator.outage = False
    await _until(public, ALL_OK, "stripe ok again")


async def test_many_callers_at_once_cost_the_vendors_one_probe(
    api_settings: ApiSettings, emulator: FlyEmulator, stripe_emulator: StripeEmulator
) -> None:
    async for http in _client(_settings(api_settings, emulator, status_cache_s=300.0), stripe_emulator):
        reports = await asyncio.gather(*(_status(http) for _ in range(20)))
        assert len({r["checked_at"] for r in reports}) == 1
        assert [r for r in stripe_emulator.requests if r[1].startswith("/v1/events")] == [("GET", "/v1/events", None)]


async def test_without_fly_settings_the_api_says_it_cannot_tell(
    api_settings: ApiSettings, emulator: FlyEmulator, stripe_emulator: StripeEmulator
) -> None:
    async for http in _client(_settings(api_settings, emulator, fly_api_token=None), stripe_emulator):
        report = await _until(http, {**ALL_OK, "fly": "degraded"}, "fly not checked")
        [fly] = [c for c in report["components"] if c["component"] == "fly"]
        assert fly["detail"].startswith("not checked")
