"""Cancel or an unpaid grace period stops a user's hosted bots (only theirs); limits hold in API and worker."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from billing.emulator import StripeEmulator
from contracts.intents import CreateBot, StartBot
from events.bus import Bus
from events.topology import intent_subject
from tests.busutil import messages_on
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login, wait_for
from tests.fakes.clock import FakeClock
from tests.integration.billing.conftest import (
    HOSTED_PROFILE,
    billing_of,
    create_bot,
    subscribe,
    user_id_of,
    wait_for_plan,
)
from workers.app import WorkerRuntime
from workers.billing import sweep_grace


async def _start(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> None:
    started = await api.post(f"/api/v1/bots/{bot_id}/start", headers=auth)
    assert started.status_code == 202, started.text
    assert (await intent_settled(api, auth, started.json()["intent_id"]))["status"] == "done"


async def _statuses(api: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    bots = (await api.get("/api/v1/bots", headers=auth)).json()["bots"]
    return {b["id"]: (b["status"], b["status_reason"]) for b in bots}


async def test_cancel_in_the_portal_stops_every_hosted_bot_of_that_user_only(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any, bus: Bus
) -> None:
    alice, bob = await signup_and_login(live_api), await signup_and_login(live_api)
    await subscribe(live_api, stripe_emulator, alice)
    await subscribe(live_api, stripe_emulator, bob)
    alice_hosted = [await create_bot(live_api, alice, HOSTED_PROFILE) for _ in range(2)]
    alice_local = await create_bot(live_api, alice, VALID_PROFILE)
    bob_hosted = await create_bot(live_api, bob, HOSTED_PROFILE)
    for bot_id in [*alice_hosted, alice_local]:
        await _start(live_api, alice, bot_id)
    await _start(live_api, bob, bob_hosted)

    # Alice cancels in Stripe's portal (the emulator's page), as she would in a browser
    portal = (await live_api.post("/api/v1/billing/portal", headers=alice)).json()["url"]
    [sub] = [
        s
        for s in stripe_emulator.state.subscriptions.values()
        if s["metadata"]["hmmtrade_user_id"] == (await user_id_of(live_api, alice))
    ]
    async with httpx.AsyncClient() as browser:
        canceled = await browser.post(f"{portal}/cancel?subscription={sub['id']}")
    assert canceled.status_code == 303

    async def alice_stopped() -> dict[str, tuple[str, str | None]] | None:
        statuses = await _statuses(live_api, alice)
        return statuses if all(statuses[b][0] == "stopped" for b in alice_hosted) else None

    statuses = await wait_for(alice_stopped, what="Alice's hosted bots to stop")
    assert {statuses[b] for b in alice_hosted} == {("stopped", "subscription canceled")}
    assert statuses[alice_local] == ("starting", None)  # local bots run on her laptop: untouched
    assert (await _statuses(live_api, bob))[bob_hosted] == ("starting", None)
    assert (await billing_of(live_api, alice))["plan"] == "free"
    # stopped, not deleted: the profile is kept, and she sees why on the bot
    bot = (await live_api.get(f"/api/v1/bots/{alice_hosted[0]}", headers=alice)).json()
    assert bot["profile"]["basics"]["surface"] == "hosted" and bot["status_reason"] == "subscription canceled"

    refused = await live_api.post(f"/api/v1/bots/{alice_hosted[0]}/start", headers=alice)
    assert refused.status_code == 403 and "free plan" in refused.json()["detail"]

    # Stripe redelivers the cancellation: no bot is stopped a second time
    [deleted] = [e for e in stripe_emulator.events_of("customer.subscription.deleted")]
    stripe_emulator.sender.resend(deleted, times=2)

    async def delivered_again() -> bool:
        return sum(d.event_id == deleted["id"] for d in stripe_emulator.sender.deliveries) == 3

    await wait_for(delivered_again, what="the redeliveries")
    stops = await messages_on(bus.js, "INTENTS", "intents.bot.stop")
    billing_stops = [m for _, m in stops if m["reason"] == "subscription canceled"]
    assert sorted(m["bot_id"] for m in billing_stops) == sorted(alice_hosted)

    # subscribing again lets her start them again
    await subscribe(live_api, stripe_emulator, alice)
    await _start(live_api, alice, alice_hosted[0])
    assert (await _statuses(live_api, alice))[alice_hosted[0]] == ("starting", None)


async def test_past_due_keeps_the_plan_for_the_grace_period_then_stops_hosted_bots(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: WorkerRuntime, clock: FakeClock
) -> None:
    auth = await signup_and_login(live_api)
    sub_id = await subscribe(live_api, stripe_emulator, auth)
    hosted = await create_bot(live_api, auth, HOSTED_PROFILE)
    await _start(live_api, auth, hosted)

    stripe_emulator.state.fail_payment(sub_id)
    due = await wait_for_plan(live_api, auth, "pro", "past_due")
    assert due["grace_ends_at"] is not None
    assert billing_workers.billing is not None
    deps = billing_workers.billing.deps

    clock.advance(timedelta(days=6, hours=23))  # still inside the 7-day grace period
    assert await sweep_grace(deps) == 0
    assert (await _statuses(live_api, auth))[hosted] == ("starting", None)

    clock.advance(timedelta(hours=2))
    assert await sweep_grace(deps) == 1
    assert await sweep_grace(deps) == 0  # a second sweep finds nothing left to end

    async def stopped() -> tuple[str, str | None] | None:
        status = (await _statuses(live_api, auth))[hosted]
        return status if status[0] == "stopped" else None

    status = await wait_for(stopped, what="the hosted bot to stop after the grace period")
    assert status == ("stopped", "payment overdue: the 7-day grace period ended")
    assert (await billing_of(live_api, auth))["plan"] == "free"

    # the card works again: the plan is back and the bot may start
    stripe_emulator.state.pay_latest_invoice(sub_id)
    await wait_for_plan(live_api, auth, "pro", "active")
    await _start(live_api, auth, hosted)


async def test_plan_limits_are_enforced_by_the_api_with_the_plan_and_limit_named(
    live_api: httpx.AsyncClient, stripe_emulator: StripeEmulator, billing_workers: Any
) -> None:
    auth = await signup_and_login(live_api)
    for _ in range(3):
        await create_bot(live_api, auth, VALID_PROFILE)
    fourth = await live_api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    assert fourth.status_code == 403
    assert "free plan allows 3 bots and you have 3" in fourth.json()["detail"]
    assert fourth.json()["errors"][0]["type"] == "plan_limit.max_bots"
    # a retry of a create that already counted still answers 202 with the same bot
    keyed = {**auth, "Idempotency-Key": "retry-me"}
    other = await signup_and_login(live_api)
    first = await live_api.post("/api/v1/bots", json=VALID_PROFILE, headers={**other, "Idempotency-Key": "k"})
    await intent_settled(live_api, other, first.json()["intent_id"])
    for _ in range(2):
        await create_bot(live_api, other, VALID_PROFILE)
    retried = await live_api.post("/api/v1/bots", json=VALID_PROFILE, headers={**other, "Idempotency-Key": "k"})
    assert retried.status_code == 202 and retried.json()["bot_id"] == first.json()["bot_id"]
    assert (await live_api.post("/api/v1/bots", json=VALID_PROFILE, headers=keyed)).status_code == 403

    await subscribe(live_api, stripe_emulator, auth)  # pro: 10 bots, 3 of them hosted
    for _ in range(3):
        await create_bot(live_api, auth, HOSTED_PROFILE)
    too_many = await live_api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert too_many.status_code == 403
    assert "pro plan allows 3 hosted bots and you have 3" in too_many.json()["detail"]
    assert "upgrade to team" in too_many.json()["detail"]


async def test_the_lifecycle_worker_refuses_creates_and_starts_that_slipped_past_the_api(
    live_api: httpx.AsyncClient, billing_workers: Any, bus: Bus, db: asyncpg.Connection
) -> None:
    auth = await signup_and_login(live_api)
    user_id = uuid.UUID(await user_id_of(live_api, auth))
    hosted = CreateBot(user_id=user_id, bot_id=uuid.uuid4(), profile=HOSTED_PROFILE)  # type: ignore[arg-type]
    await bus.publish(intent_subject(hosted.type), hosted)
    failed = await intent_settled(live_api, auth, hosted.id)
    assert failed["status"] == "failed" and "free plan" in failed["error"] and "hosted" in failed["error"]
    assert (await live_api.get(f"/api/v1/bots/{hosted.bot_id}", headers=auth)).status_code == 404

    # four creates at once, all past the API: the worker lets three through
    burst = [CreateBot(user_id=user_id, bot_id=uuid.uuid4(), profile=VALID_PROFILE) for _ in range(4)]  # type: ignore[arg-type]
    for intent in burst:
        await bus.publish(intent_subject(intent.type), intent)
    outcomes = [await intent_settled(live_api, auth, i.id) for i in burst]
    assert sorted(o["status"] for o in outcomes) == ["done", "done", "done", "failed"]
    assert "allows 3 bots" in next(o["error"] for o in outcomes if o["status"] == "failed")

    # a hosted bot whose owner went back to free cannot be started by a stray intent either
    bot_id = uuid.uuid4()
    await db.execute("UPDATE users SET tier = 'pro' WHERE id = $1", user_id)
    await db.execute(
        "INSERT INTO bots (id, user_id, name, surface, mode, status, profile) VALUES ($1, $2, 'h', 'hosted',"
        " 'paper', 'stopped', $3::jsonb)",
        bot_id,
        user_id,
        json.dumps(HOSTED_PROFILE),
    )
    await db.execute("UPDATE users SET tier = 'free' WHERE id = $1", user_id)
    start = StartBot(user_id=user_id, bot_id=bot_id)
    await bus.publish(intent_subject(start.type), start)
    refused = await intent_settled(live_api, auth, start.id)
    assert refused["status"] == "failed" and "free plan" in refused["error"]
