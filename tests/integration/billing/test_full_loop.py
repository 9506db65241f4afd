"""Signup -> checkout -> the emulator takes the payment -> signed webhook -> paid tier -> hosted bots."""

from __future__ import annotations

from typing import Any

import httpx

from billing.emulator import StripeEmulator
from events.bus import Bus
from tests.busutil import messages_on
from tests.conftest import signup_and_login, wait_for
from tests.integration.billing.conftest import HOSTED_PROFILE, billing_of, create_bot, subscribe, user_id_of


async def test_paying_through_checkout_unlocks_hosted_bots(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus
) -> None:
    auth = await signup_and_login(live_api)
    user_id = await user_id_of(live_api, auth)
    before = await billing_of(live_api, auth)
    assert before["plan"] == "free" and before["status"] == "none" and before["subscription"] is None
    assert before["limits"] == {"max_bots": 3, "max_hosted_bots": 0, "hosted_allowed": False}

    refused = await live_api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert "free plan" in refused.json()["detail"] and "hosted" in refused.json()["detail"]
    assert refused.json()["errors"][0]["plan"] == "free"

    checkout = await live_api.post("/api/v1/billing/checkout", json={"plan": "pro"}, headers=auth)
    assert checkout.status_code == 200, checkout.text
    assert checkout.json()["url"].startswith(stripe_emulator.url + "/checkout/cs_test_")
    page = httpx.get(checkout.json()["url"])
    assert page.status_code == 200 and "Pay" in page.text  # the hosted payment page a browser shows
    # nothing happens until the user pays
    assert (await billing_of(live_api, auth))["plan"] == "free"

    async with httpx.AsyncClient() as browser:
        paid = await browser.post(checkout.json()["url"])
    assert paid.status_code == 303

    async def pro() -> dict[str, Any] | None:
        body = await billing_of(live_api, auth)
        return body if body["plan"] == "pro" else None

    after = await wait_for(pro, what="the tier to become pro")
    assert after["status"] == "active" and after["subscription"]["status"] == "active"
    assert after["limits"] == {"max_bots": 10, "max_hosted_bots": 3, "hosted_allowed": True}

    bot_id = await create_bot(live_api, auth, HOSTED_PROFILE)
    bot = (await live_api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()
    assert bot["surface"] == "hosted" and bot["status"] == "stopped"
    assert (await billing_of(live_api, auth))["usage"] == {"bots": 1, "hosted_bots": 1}

    # every webhook was signed, accepted, and the three events of one purchase activated once
    delivered = {d.event_type: d.status for d in stripe_emulator.sender.deliveries}
    assert delivered == {
        "customer.subscription.created": 200,
        "invoice.paid": 200,
        "checkout.session.completed": 200,
    }
    activated = await messages_on(bus.js, "INTENTS", "intents.billing.activated")
    assert [(m["user_id"], m["plan"]) for _, m in activated] == [(user_id, "pro")]


async def test_checkout_needs_a_paid_plan_and_refuses_a_second_subscription(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any
) -> None:
    auth = await signup_and_login(live_api)
    free = await live_api.post("/api/v1/billing/checkout", json={"plan": "free"}, headers=auth)
    assert free.status_code == 422 and "plan" in free.json()["detail"]
    no_account = await live_api.post("/api/v1/billing/portal", headers=auth)
    assert no_account.status_code == 409 and "checkout" in no_account.json()["detail"]

    await subscribe(live_api, stripe_emulator, auth, "team")
    again = await live_api.post("/api/v1/billing/checkout", json={"plan": "pro"}, headers=auth)
    assert again.status_code == 409 and "team" in again.json()["detail"] and "portal" in again.json()["detail"]
    portal = await live_api.post("/api/v1/billing/portal", headers=auth)
    assert portal.status_code == 200 and portal.json()["url"].startswith(stripe_emulator.url + "/portal/bps_")
    # one customer for this user, however many sessions
    assert len(stripe_emulator.state.customers) == 1
