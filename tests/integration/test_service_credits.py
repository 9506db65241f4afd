"""A closed incident's service credits through the Stripe emulator and the official SDK: the amount
follows docs/terms.md to the cent; affected are exactly the paid customers whose hosted bots were
down inside the window; a re-run, a duplicated close event, or a worker killed between Stripe's
answer and our record never credits twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from billing.emulator import StripeEmulator
from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway
from contracts.incidents import IncidentEvent
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import ensure_topology, incident_event_subject
from incidents.credits import CreditDeps, settle
from incidents.service import IncidentService, public
from notify.email import EmailTarget, SmtpSettings
from store import billing, bots, credits, downtime, users
from store.incidents import Incident
from store.pool import create_pool
from tests.conftest import VALID_PROFILE, wait_for
from tests.faults.test_worker_kill import WorkerProcess
from tests.notifyutil import smtp_sink
from workers.app import start_workers
from workers.settings import WorkerSettings

NOW = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)
START, END = NOW - 6 * H, NOW - H  # the incident's window


@dataclass
class Customer:
    user_id: uuid.UUID
    customer_id: str | None
    bots: list[uuid.UUID]


@pytest.fixture
def stripe_emulator() -> Iterator[StripeEmulator]:
    emulator = StripeEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def stripe_settings(stripe_emulator: StripeEmulator) -> StripeSettings:
    return StripeSettings(STRIPE_API_BASE=stripe_emulator.url, STRIPE_MAX_NETWORK_RETRIES=0)


@pytest.fixture
async def gateway(stripe_settings: StripeSettings) -> AsyncIterator[StripeClientGateway]:
    gw = StripeClientGateway(stripe_settings)
    yield gw
    await gw.close()


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=4)
    await pool.execute("DELETE FROM incidents")
    await pool.execute("DELETE FROM hosted_downtime")  # other tests' bots: not this test's customers
    yield pool
    await pool.execute("DELETE FROM incidents")
    await pool.close()


async def _customer(
    pool: asyncpg.Pool, gateway: StripeClientGateway, tier: str, downs: list[tuple[datetime, datetime | None]]
) -> Customer:
    """A user on ``tier`` (with a Stripe customer if paid) and one hosted bot per downtime interval."""
    user_id = uuid.uuid4()
    await users.create_user(pool, user_id=user_id, email=f"{user_id.hex[:10]}@example.com", password_hash="x")
    await pool.execute("UPDATE users SET tier = $2 WHERE id = $1", user_id, tier)
    customer_id = None
    if tier != "free":
        customer_id = await gateway.create_customer(
            email=f"{user_id}@example.com", user_id=str(user_id), idempotency_key=str(user_id)
        )
        await billing.save_customer(pool, user_id, customer_id)
    bot_ids = []
    for n, (start, end) in enumerate(downs):
        bot_id = uuid.uuid4()
        await bots.insert_bot(
            pool,
            bot_id=bot_id,
            user_id=user_id,
            name=f"bot-{n}",
            surface="hosted",
            mode="paper",
            status="running",
            profile=VALID_PROFILE,
        )
        await downtime.open_downtime(pool, bot_id=bot_id, user_id=user_id, cause="launch", at=start)
        if end is not None:
            await downtime.close_downtime(pool, bot_id, at=end)
        bot_ids.append(bot_id)
    return Customer(user_id, customer_id, bot_ids)


@pytest.fixture
async def world(pool: asyncpg.Pool, gateway: StripeClientGateway) -> dict[str, Customer]:
    return {
        # pro: 3 h and 10 min down inside the window -> 2.5 h credited -> 2900 x 2.5 / 720 = 10.07 -> $0.10
        "alice": await _customer(
            pool, gateway, "pro", [(START + H, START + 4 * H), (START, START + timedelta(minutes=10))]
        ),
        # team: down since before the incident and still down: 5 h inside, 4.5 h credited, 9900 x 4.5 / 720 -> $0.62
        "bob": await _customer(pool, gateway, "team", [(START - H, None)]),
        "carol": await _customer(pool, gateway, "free", [(START, START + 3 * H)]),  # free: nothing
        "dave": await _customer(pool, gateway, "pro", []),  # nothing was down
        "erin": await _customer(pool, gateway, "pro", [(START - 4 * H, START - 2 * H)]),  # down before it began
    }


EXPECTED_CENTS = {"alice": 10, "bob": 62}


async def _closed_fly_incident(pool: asyncpg.Pool, bus: Bus | None) -> Incident:
    service = IncidentService(pool, bus)
    opened = await service.open(component="fly", title="Fly Machines outage", author="watch", started_at=START)
    return await service.close(opened.id, author="watch", ended_at=END)


async def _stripe_credits(gateway: StripeClientGateway, customer: Customer) -> list[int]:
    assert customer.customer_id is not None
    return [c.amount_cents for c in await gateway.list_credits(customer.customer_id)]


async def _assert_credited_once(
    pool: asyncpg.Pool, gateway: StripeClientGateway, world: dict[str, Customer], incident: Incident
) -> None:
    for name, customer in world.items():
        if customer.customer_id is not None:
            expected = [EXPECTED_CENTS[name]] if name in EXPECTED_CENTS else []
            assert await _stripe_credits(gateway, customer) == expected, name
    rows = {row.user_id: row for row in await credits.of_incident(pool, incident.id)}
    assert {name for name, c in world.items() if c.user_id in rows} == {"alice", "bob"}
    alice, bob = rows[world["alice"].user_id], rows[world["bob"].user_id]
    assert (alice.status, alice.amount_cents, alice.bot_seconds, alice.credited_seconds) == (
        "issued",
        10,
        3 * 3600 + 600,
        9000,
    )
    assert (bob.status, bob.amount_cents, bob.bot_seconds, bob.credited_seconds) == ("issued", 62, 5 * 3600, 16200)
    assert [b.down_seconds for b in alice.bots] == [3 * 3600, 600]


async def test_closing_an_incident_credits_each_affected_paid_customer_once_to_the_cent(
    pool: asyncpg.Pool, gateway: StripeClientGateway, world: dict[str, Customer]
) -> None:
    incident = await _closed_fly_incident(pool, None)
    with smtp_sink() as sink:
        email = EmailTarget(SmtpSettings(host=sink.host, port=sink.port, starttls=False, sender="billing@example.com"))
        deps = CreditDeps(pool=pool, gateway=gateway, email=email)
        first = await settle(incident.id, deps)
        again = await settle(incident.id, deps)  # a re-run of the job

    assert (first.issued, first.settled) == (2, True)
    assert (again.issued, again.settled) == (0, True)
    await _assert_credited_once(pool, gateway, world, incident)
    # each credited customer is told once, at their account address, with the amount and the bots
    emails = {
        await pool.fetchval("SELECT email FROM users WHERE id = $1", world[n].user_id): n for n in ("alice", "bob")
    }
    assert sorted(emails[m["To"]] for m in sink.messages) == ["alice", "bob"]
    told = {emails[m["To"]]: m for m in sink.messages}
    assert told["alice"]["Subject"] == "Service credit of $0.10: Fly Machines outage"
    body = told["alice"].get_payload()
    assert "credited $0.10" in body and "bot-0: down 3.00 h, credited 2.50 h" in body and "bot-1: down 0.17 h" in body
    assert "credited $0.62" in told["bob"].get_payload()


async def test_an_incident_of_another_component_credits_nobody(
    pool: asyncpg.Pool, gateway: StripeClientGateway, world: dict[str, Customer]
) -> None:
    service = IncidentService(pool, None)
    opened = await service.open(component="kms", title="KMS errors", author="watch", started_at=START)
    closed = await service.close(opened.id, author="watch", ended_at=END)
    assert (await settle(closed.id, CreditDeps(pool=pool, gateway=gateway))).settled
    assert await credits.of_incident(pool, closed.id) == []
    assert await _stripe_credits(gateway, world["alice"]) == []


async def test_a_duplicated_close_event_credits_once(
    pool: asyncpg.Pool,
    gateway: StripeClientGateway,
    world: dict[str, Customer],
    worker_settings: WorkerSettings,
    stripe_settings: StripeSettings,
    bus: Bus,
) -> None:
    runtime = await start_workers(worker_settings, stripe=stripe_settings)
    try:
        incident = await _closed_fly_incident(pool, bus)
        duplicate = IncidentEvent(id=f"replayed:{incident.id}", type="incident.closed", incident=public(incident))
        await bus.publish(incident_event_subject(incident.id, "closed"), duplicate)  # a second close, another id

        async def settled() -> bool:
            return await pool.fetchval(
                "SELECT credits_settled_at IS NOT NULL FROM incidents WHERE id = $1", incident.id
            )

        await wait_for(settled, timeout_s=60, what="the credits worker to settle the incident")
    finally:
        await runtime.stop()
    await _assert_credited_once(pool, gateway, world, incident)


async def test_a_worker_killed_after_stripe_credited_does_not_credit_again(
    pool: asyncpg.Pool,
    gateway: StripeClientGateway,
    world: dict[str, Customer],
    stripe_emulator: StripeEmulator,
    nats_server: NatsServer,
    pg_dsn: str,
    bus: Bus,
    tmp_path: Path,
) -> None:
    await ensure_topology(bus.js)
    env = {"STRIPE_API_BASE": stripe_emulator.url}
    paused = WorkerProcess(nats_server.url, pg_dsn, tmp_path / "paused.log", "credits.after_stripe=pause", env)
    try:
        await wait_for(lambda: _true('"workers.started"' in paused.log()), timeout_s=60, what="the first worker")
        incident = await _closed_fly_incident(pool, bus)
        await wait_for(
            lambda: _true('"credits.after_stripe"' in paused.log()), timeout_s=60, what="a credit made, not recorded"
        )
        paused.kill9()  # Stripe has the first credit; our record does not
        assert [row.status for row in await credits.of_incident(pool, incident.id)] == ["pending", "pending"]
        successor = WorkerProcess(nats_server.url, pg_dsn, tmp_path / "successor.log", "", env)
        try:

            async def settled() -> bool:
                return await pool.fetchval(
                    "SELECT credits_settled_at IS NOT NULL FROM incidents WHERE id = $1", incident.id
                )

            await wait_for(settled, timeout_s=90, what="the successor to settle the incident")
        finally:
            assert successor.stop() == 0, successor.log()[-3000:]
    finally:
        if paused.process.poll() is None:
            paused.kill9()
    await _assert_credited_once(pool, gateway, world, incident)


async def _true(value: bool) -> bool:
    return value
