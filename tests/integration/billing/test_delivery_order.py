"""Stripe delivers duplicates and out of order: the final state is right and each change happens once."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx

from billing.emulator import StripeEmulator
from billing.webhooks import signature_header
from events.bus import Bus
from tests.busutil import count_on_subject, messages_on
from tests.conftest import signup_and_login, wait_for
from tests.integration.billing.conftest import WEBHOOK_SECRET, billing_of, subscribe, user_id_of, wait_for_plan


async def _settled(emulator: StripeEmulator) -> bool:
    return emulator.sender.idle()


async def test_the_same_webhook_five_times_is_processed_once(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    auth = await signup_and_login(live_api)
    user_id = await user_id_of(live_api, auth)
    stripe_emulator.sender.hold()
    checkout = await live_api.post("/api/v1/billing/checkout", json={"plan": "pro"}, headers=auth)
    stripe_emulator.state.complete_checkout(checkout.json()["session_id"])
    stripe_emulator.sender.release()
    [completed] = stripe_emulator.events_of("checkout.session.completed")
    stripe_emulator.sender.resend(completed, times=4)  # five deliveries of one event in all
    await wait_for(lambda: _settled(stripe_emulator), what="the emulator to deliver everything")
    await wait_for_plan(live_api, auth, "pro", "active")

    deliveries = [d for d in stripe_emulator.sender.deliveries if d.event_id == completed["id"]]
    assert [d.status for d in deliveries] == [200] * 5
    # JetStream stored it once (msg id = event id); the worker's ledger recorded it once
    assert await count_on_subject(bus.js, "STRIPE", "stripe.events.checkout.session.completed") == 1

    async def handled() -> int:
        return int(
            await db.fetchval(
                "SELECT count(*) FROM processed_messages WHERE consumer = 'billing-stripe' AND message_id = $1",
                completed["id"],
            )
        )

    assert await wait_for(handled, what="the event in the ledger") == 1
    activated = await messages_on(bus.js, "INTENTS", "intents.billing.activated")
    assert [m["user_id"] for _, m in activated] == [user_id]

    # the same signed body posted directly five times at once: one stored, four flagged duplicates
    body = json.dumps(stripe_emulator.event(completed["id"])).encode()
    headers = {"Stripe-Signature": signature_header(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
    answers = [await live_api.post("/api/v1/stripe/webhook", content=body, headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.json()["duplicate"] for a in answers)  # the bus already held it from the deliveries
    assert await count_on_subject(bus.js, "STRIPE", "stripe.events.checkout.session.completed") == 1


async def test_deleted_before_updated_leaves_the_subscription_canceled(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus
) -> None:
    auth = await signup_and_login(live_api)
    user_id = await user_id_of(live_api, auth)
    sub_id = await subscribe(live_api, stripe_emulator, auth)
    await wait_for(lambda: _settled(stripe_emulator), what="the purchase's webhooks")

    stripe_emulator.sender.hold()
    stripe_emulator.state.update_subscription(sub_id, {"cancel_at_period_end": "true"})
    stripe_emulator.state.cancel_subscription(sub_id)
    order = stripe_emulator.sender.release(reverse=True)  # deleted arrives first, then the older updated
    assert [stripe_emulator.event(i)["type"] for i in order] == [
        "customer.subscription.deleted",
        "customer.subscription.updated",
    ]
    await wait_for(lambda: _settled(stripe_emulator), what="both webhooks")
    final = await wait_for_plan(live_api, auth, "free", "canceled")
    assert final["subscription"]["status"] == "canceled" and final["subscription"]["id"] == sub_id

    async def both_handled() -> bool:
        pending = await bus.js.consumer_info("STRIPE", "billing-stripe")
        return pending.num_pending == 0 and pending.num_ack_pending == 0

    await wait_for(both_handled, what="the worker to handle both events")
    # the late "updated" (re-fetched: canceled) changed nothing: one cancel, no re-activation
    canceled = await messages_on(bus.js, "INTENTS", "intents.billing.canceled")
    assert [m["user_id"] for _, m in canceled] == [user_id]
    assert len(await messages_on(bus.js, "INTENTS", "intents.billing.activated")) == 1
    assert (await billing_of(live_api, auth))["plan"] == "free"


async def test_payment_recovered_before_its_failure_arrives_leaves_the_plan_active(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus
) -> None:
    auth = await signup_and_login(live_api)
    sub_id = await subscribe(live_api, stripe_emulator, auth)
    await wait_for(lambda: _settled(stripe_emulator), what="the purchase's webhooks")
    stripe_emulator.sender.hold()
    stripe_emulator.state.fail_payment(sub_id)
    stripe_emulator.state.pay_latest_invoice(sub_id)
    stripe_emulator.sender.release(reverse=True)  # "paid" and "active again" first, then the stale failure
    await wait_for(lambda: _settled(stripe_emulator), what="the webhooks")

    async def drained() -> bool:
        info = await bus.js.consumer_info("STRIPE", "billing-stripe")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(drained, what="the worker to handle every event")
    body = await billing_of(live_api, auth)
    assert (body["plan"], body["status"], body["grace_ends_at"]) == ("pro", "active", None)
    assert await messages_on(bus.js, "INTENTS", "intents.billing.past_due") == []


async def test_a_stripe_outage_during_the_re_fetch_delays_the_tier_and_loses_nothing(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus
) -> None:
    auth = await signup_and_login(live_api)
    checkout = await live_api.post("/api/v1/billing/checkout", json={"plan": "pro"}, headers=auth)
    stripe_emulator.outage = True  # webhooks still arrive; the worker cannot re-fetch the subscription
    stripe_emulator.state.complete_checkout(checkout.json()["session_id"])
    await wait_for(lambda: _settled(stripe_emulator), what="the webhooks to be accepted")

    async def refetch_failed() -> bool:
        return any(m == "GET" and p.startswith("/v1/subscriptions/") for m, p, _ in stripe_emulator.requests)

    await wait_for(refetch_failed, what="the worker to try Stripe")
    assert (await billing_of(live_api, auth))["plan"] == "free"
    stripe_emulator.outage = False
    await wait_for_plan(live_api, auth, "pro", "active", timeout_s=30)
    assert len(await messages_on(bus.js, "DLQ", "dlq.>")) == 0
