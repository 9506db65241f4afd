"""Only Stripe can put events on the bus: forged, stale and altered webhooks get 400 and leave nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from billing.emulator import StripeEmulator
from billing.webhooks import compute_signature, signature_header
from events.bus import Bus
from events.embedded import NatsServer
from tests.busauth import BUS_KEYS
from tests.conftest import signup_and_login, wait_for
from tests.integration.billing.conftest import WEBHOOK_SECRET, wait_for_plan

EVENT = {
    "id": "evt_test_forgery_0001",
    "object": "event",
    "type": "customer.subscription.deleted",
    "created": 1_700_000_000,
    "data": {"object": {"id": "sub_victim", "object": "subscription", "status": "canceled"}},
}
BODY = json.dumps(EVENT).encode()


def _forged() -> tuple[bytes, dict[str, str]]:
    return BODY, {"Stripe-Signature": signature_header("whsec_attacker_guess", BODY)}


def _stale() -> tuple[bytes, dict[str, str]]:
    return BODY, {"Stripe-Signature": signature_header(WEBHOOK_SECRET, BODY, timestamp=int(time.time()) - 301)}


def _altered() -> tuple[bytes, dict[str, str]]:
    header = signature_header(WEBHOOK_SECRET, BODY)
    return BODY.replace(b"sub_victim", b"sub_other1"), {"Stripe-Signature": header}


def _reformatted() -> tuple[bytes, dict[str, str]]:
    # same JSON, different bytes: the signature covers the raw body, not its meaning
    header = signature_header(WEBHOOK_SECRET, BODY)
    return json.dumps(EVENT, indent=2).encode(), {"Stripe-Signature": header}


def _missing() -> tuple[bytes, dict[str, str]]:
    return BODY, {}


def _garbled() -> tuple[bytes, dict[str, str]]:
    return BODY, {"Stripe-Signature": "v1=deadbeef"}


def _future() -> tuple[bytes, dict[str, str]]:
    t = int(time.time()) + 3600
    return BODY, {"Stripe-Signature": f"t={t},v1={compute_signature(WEBHOOK_SECRET, t, BODY)}"}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_forged, "no v1 signature matches"),
        (_stale, "more than 300 s from now"),
        (_future, "more than 300 s from now"),
        (_altered, "no v1 signature matches"),
        (_reformatted, "no v1 signature matches"),
        (_missing, "header is missing"),
        (_garbled, "no timestamp"),
    ],
)
async def test_unverifiable_webhooks_are_refused_and_nothing_reaches_the_bus(
    live_api: httpx.AsyncClient, bus: Bus, make: Any, reason: str
) -> None:
    body, headers = make()
    response = await live_api.post(
        "/api/v1/stripe/webhook", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert (await bus.js.stream_info("STRIPE")).state.messages == 0


async def test_a_correctly_signed_webhook_is_accepted(live_api: httpx.AsyncClient, bus: Bus) -> None:
    headers = {"Stripe-Signature": signature_header(WEBHOOK_SECRET, BODY), "Content-Type": "application/json"}
    response = await live_api.post("/api/v1/stripe/webhook", content=BODY, headers=headers)
    assert response.status_code == 200 and response.json() == {
        "received": True,
        "event_id": EVENT["id"],
        "duplicate": False,
    }
    assert (await bus.js.stream_info("STRIPE")).state.messages == 1


async def test_webhooks_get_503_while_the_bus_is_down_and_stripe_retries_until_they_land(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, nats_server: NatsServer
) -> None:
    auth = await signup_and_login(live_api)
    checkout = await live_api.post("/api/v1/billing/checkout", json={"plan": "pro"}, headers=auth)
    nats_server.kill()
    stripe_emulator.state.complete_checkout(checkout.json()["session_id"])

    async def refused() -> bool:
        return any(d.status == 503 for d in stripe_emulator.sender.deliveries)

    # generous deadlines: every client's reconnect errors are logged with tracebacks meanwhile
    await wait_for(refused, timeout_s=60, what="a webhook answered 503 while the bus is down")
    revived = NatsServer(nats_server.store_dir, keys=BUS_KEYS, port=nats_server.port).start()
    nats_server.process = revived.process

    await wait_for_plan(live_api, auth, "pro", "active", timeout_s=60)

    async def all_landed() -> dict[str, list[int | None]] | None:
        by_event: dict[str, list[int | None]] = {}
        for d in stripe_emulator.sender.deliveries:
            by_event.setdefault(d.event_id, []).append(d.status)
        return by_event if len(by_event) == 3 and all(s[-1] == 200 for s in by_event.values()) else None

    by_event = await wait_for(all_landed, timeout_s=60, what="every event to be delivered in the end")
    assert any(503 in statuses for statuses in by_event.values())
