"""Postgres SIGKILLed and restarted under a stream of bot intents, with the API and the workers
as real processes: the API answers 503 with ``Retry-After`` while the database is away and
recovers without a restart; intents waiting on the bus are held, not spent, and every accepted
intent is done exactly once (outcome row, ledger row, one event), nothing dead-lettered.

The test has a Postgres of its own (``tests.pgprocess``): the session's shared one stays up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from contracts.intents import StartBot, StopBot
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import bot_subject, intent_subject
from store.migrate import migrate
from tests.conftest import TEST_ACK_WAIT_S, VALID_PROFILE, signup_and_login, wait_for
from tests.controlplane import ControlPlane, control_plane_env
from tests.integration.test_audit_ingest import audit_record
from tests.pgprocess import PostgresProcess

USERS = 3
BOTS_BEFORE = 2  # per user, created before the stream; a third is created during it
INTENTS_PER_PHASE = 20  # accepted before the kill, and again after the restart
BACKLOG = 6  # intents put on the bus while the database is away, as if accepted just before it died
AUDIT_RECORDS = 20  # a bot's audit records arriving while the database is away
# How long the database stays away once the workers hold intents and the API refuses: several ack
# waits, so a held delivery must be kept alive (in_progress) or JetStream would redeliver it.
OUTAGE_S = 3 * TEST_ACK_WAIT_S


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresProcess]:
    server = PostgresProcess(tmp_path / "pg")
    server.start()
    asyncio.run(migrate(server.dsn))
    yield server
    server.stop()


@pytest.fixture
def plane(nats_server: NatsServer, postgres: PostgresProcess, tmp_path: Path) -> Iterator[ControlPlane]:
    env = control_plane_env(
        NATS_URL=nats_server.url, DATABASE_URL=postgres.dsn, HMMTRADE_ACK_WAIT_S=str(TEST_ACK_WAIT_S)
    )
    control = ControlPlane(env, tmp_path)
    yield control
    control.kill_all()


@pytest.fixture
async def api(plane: ControlPlane) -> AsyncIterator[httpx.AsyncClient]:
    await plane.start_api()
    await plane.start_workers()
    async with httpx.AsyncClient(base_url=plane.api_url, timeout=30) as client:
        yield client


@dataclass
class Trader:
    headers: dict[str, str]
    user_id: uuid.UUID
    bots: list[str]
    create_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    third_bot: str | None = None


@dataclass
class Traffic:
    """What the API answered to the stream of requests."""

    accepted: list[str] = field(default_factory=list)  # intent ids
    unavailable: list[httpx.Response] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


async def _trader(api: httpx.AsyncClient) -> Trader:
    headers = await signup_and_login(api)
    user_id = uuid.UUID((await api.get("/api/v1/me", headers=headers)).json()["id"])
    bots = []
    for _ in range(BOTS_BEFORE):
        created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=headers)
        assert created.status_code == 202, created.text
        bots.append(created.json()["bot_id"])
    for bot_id in bots:

        async def exists(bot_id: str = bot_id) -> bool:
            return (await api.get(f"/api/v1/bots/{bot_id}", headers=headers)).status_code == 200

        await wait_for(exists, timeout_s=30, what=f"bot {bot_id} to be created")
    return Trader(headers, user_id, bots)


async def _drive(api: httpx.AsyncClient, trader: Trader, traffic: Traffic, stop: asyncio.Event) -> None:
    """Start and stop the trader's bots in turn, and create a third bot (retried with the same
    Idempotency-Key until it is accepted), until told to stop."""
    step = 0
    while not stop.is_set():
        if trader.third_bot is None and step % 5 == 4:
            headers = {**trader.headers, "Idempotency-Key": trader.create_key}
            response = await _send(api, traffic, "POST", "/api/v1/bots", json=VALID_PROFILE, headers=headers)
            if response is not None and response.status_code == 202:
                trader.third_bot = response.json()["bot_id"]
        else:
            bot_id = trader.bots[step % len(trader.bots)]
            action = "start" if (step // len(trader.bots)) % 2 == 0 else "stop"
            await _send(api, traffic, "POST", f"/api/v1/bots/{bot_id}/{action}", headers=trader.headers)
        step += 1
        await asyncio.sleep(0.02)  # pacing for a 2-core machine, not synchronisation


async def _send(
    api: httpx.AsyncClient, traffic: Traffic, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    try:
        response = await api.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        traffic.unexpected.append(f"{method} {url}: {type(exc).__name__}: {exc}")
        return None
    if response.status_code == 202:
        traffic.accepted.append(response.json()["intent_id"])
    elif response.status_code == 503:
        traffic.unavailable.append(response)
    else:
        traffic.unexpected.append(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return response


async def _readyz(api: httpx.AsyncClient) -> httpx.Response:
    return await api.get("/readyz")


async def test_postgres_killed_under_load_loses_and_doubles_nothing(
    api: httpx.AsyncClient, plane: ControlPlane, postgres: PostgresProcess, bus: Bus
) -> None:
    traders = [await _trader(api) for _ in range(USERS)]
    traffic = Traffic()
    stop = asyncio.Event()
    drivers = [asyncio.create_task(_drive(api, trader, traffic, stop)) for trader in traders]
    try:
        await wait_for(
            _count_at_least(traffic.accepted, INTENTS_PER_PHASE), timeout_s=60, what="intents accepted before the kill"
        )
        postgres.kill9()
        refused_before = len(traffic.unavailable)

        # intents accepted just before the database died: the workers meet them while it is away
        backlog = []
        for i in range(BACKLOG):
            trader = traders[i % USERS]
            kind = StartBot if i % 2 == 0 else StopBot
            intent = kind(id=str(uuid.uuid4()), user_id=trader.user_id, bot_id=uuid.UUID(trader.bots[0]))
            await bus.publish(intent_subject(intent.type), intent)
            backlog.append(intent.id)

        audited_bot = uuid.UUID(traders[0].bots[0])
        for seq in range(1, AUDIT_RECORDS + 1):
            await bus.publish(bot_subject(audited_bot, "audit"), audit_record(audited_bot, seq))

        async def backlog_waits() -> bool:  # some intents in the workers' hands, the rest still on the bus
            info = await bus.js.consumer_info("INTENTS", "lifecycle")
            return info.num_ack_pending > 0 and info.num_ack_pending + info.num_pending >= BACKLOG

        await wait_for(backlog_waits, timeout_s=60, what="the workers to meet the backlog")
        await wait_for(
            _count_at_least(traffic.unavailable, refused_before + 5), timeout_s=60, what="503s during the outage"
        )
        not_ready = await _readyz(api)
        assert not_ready.status_code == 503 and not_ready.json()["checks"]["database"] == "unreachable"
        await asyncio.sleep(OUTAGE_S)  # the outage's length is the scenario, not a wait for something

        postgres.start()  # same data folder, same port; the API and the workers are not restarted

        async def ready() -> bool:
            return (await _readyz(api)).status_code == 200

        await wait_for(ready, timeout_s=60, what="/readyz to see the database again")
        accepted_before_restart = len(traffic.accepted)
        await wait_for(
            _count_at_least(traffic.accepted, accepted_before_restart + INTENTS_PER_PHASE),
            timeout_s=60,
            what="intents accepted after the restart",
        )
        await wait_for(lambda: _all_created(traders), timeout_s=60, what="every trader's third bot to be accepted")
    finally:
        stop.set()
        await asyncio.gather(*drivers)

    api_errors = [line[:1500] for line in plane.children[0].log().splitlines() if '"level": "error"' in line]
    assert traffic.unexpected == [], (traffic.unexpected[:5], api_errors[:3])
    for refused in traffic.unavailable:
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert "database" in refused.json()["detail"]
    expected = sorted(set(traffic.accepted)) + backlog
    assert len(expected) == len(traffic.accepted) + BACKLOG  # no intent id accepted twice

    conn = await asyncpg.connect(postgres.dsn)
    try:

        async def all_done() -> bool:
            done = await conn.fetchval(
                "SELECT count(*) FROM intents WHERE id = ANY($1::text[]) AND status <> 'accepted'", expected
            )
            return bool(done == len(expected))

        await wait_for(all_done, timeout_s=90, what="every accepted intent to be carried out")
        statuses = await conn.fetch("SELECT status, error FROM intents WHERE id = ANY($1::text[])", expected)
        assert {row["status"] for row in statuses} == {"done"}, [dict(r) for r in statuses if r["status"] != "done"]
        ledger = await conn.fetchval(
            "SELECT count(*) FROM processed_messages WHERE consumer = 'lifecycle' AND message_id = ANY($1::text[])",
            expected,
        )
        assert ledger == len(expected)

        async def audit_stored() -> bool:
            stored = await conn.fetchval("SELECT count(*) FROM audit_events WHERE bot_id = $1", audited_bot)
            return bool(stored == AUDIT_RECORDS)

        await wait_for(audit_stored, timeout_s=60, what="the audit records of the outage to be stored")
        for trader in traders:  # the retried create made one bot, not several
            count = await conn.fetchval("SELECT count(*) FROM bots WHERE user_id = $1", trader.user_id)
            assert count == BOTS_BEFORE + 1
    finally:
        await conn.close()

    events = (await bus.js.stream_info("EVENTS", subjects_filter="events.intent.>")).state.subjects or {}
    assert all(events.get(f"events.intent.{intent_id}.done") == 1 for intent_id in expected)
    assert not any(subject.endswith(".failed") for subject in events)
    assert (await bus.js.stream_info("DLQ")).state.messages == 0

    # The outage spent no deliveries: the lifecycle consumer delivered each bot intent once
    # (a nak or an ack timeout during the outage would show as extra consumer sequence numbers).
    bot_intents = (await bus.js.stream_info("INTENTS", subjects_filter="intents.bot.>")).state.subjects or {}

    async def settled() -> bool:
        info = await bus.js.consumer_info("INTENTS", "lifecycle")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(settled, timeout_s=30, what="the lifecycle consumer to have nothing outstanding")
    info = await bus.js.consumer_info("INTENTS", "lifecycle")
    assert info.delivered.consumer_seq == sum(bot_intents.values())
    audit = await bus.js.consumer_info("BOTS", "audit-ingest")
    assert audit.num_ack_pending == 0 and audit.delivered.consumer_seq == AUDIT_RECORDS
    assert all(child.alive for child in plane.children), "the API or the workers exited"


async def test_a_database_that_stops_answering_gets_503s_not_hangs(
    plane: ControlPlane, postgres: PostgresProcess
) -> None:
    """Postgres frozen (accepting, never answering): reads and logins answer 503 once the query or
    connect timeout passes, /readyz says so at once, and all works again when it answers."""
    await plane.start_api()
    async with httpx.AsyncClient(base_url=plane.api_url, timeout=60) as api:
        headers = await signup_and_login(api)
        email_login = await api.get("/api/v1/me", headers=headers)
        assert (await api.get("/api/v1/bots", headers=headers)).status_code == 200
        postgres.freeze()
        try:
            for response in (
                await api.get("/api/v1/bots", headers=headers),
                await api.post("/api/v1/bots", json=VALID_PROFILE, headers=headers),
                await api.post("/api/v1/auth/login", json={"email": email_login.json()["email"], "password": "x"}),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "2"
            not_ready = await _readyz(api)
            assert not_ready.status_code == 503 and not_ready.json()["checks"]["database"] == "unreachable"
        finally:
            postgres.thaw()

        async def answering() -> bool:
            return (await api.get("/api/v1/bots", headers=headers)).status_code == 200

        await wait_for(answering, timeout_s=60, what="the API to read the database again")
        assert (await _readyz(api)).status_code == 200


def _count_at_least(items: list[Any], n: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return len(items) >= n

    return probe


async def _all_created(traders: list[Trader]) -> bool:
    return all(trader.third_bot is not None for trader in traders)
