"""A rolling restart of the whole control plane under load fails no request and loses no intent.

Two ``hmmtrade api`` replicas behind a test load balancer (``tests/lb.py``: round robin over
the ready ones, retries only a refused connection) and two ``hmmtrade workers`` replicas, all
real processes on one Postgres and one nats-server. Clients sign up, log in, create bots and
read them through the balancer without pause while each API replica in turn is sent SIGTERM,
drains (``/readyz`` 503, requests in flight finished), exits 0 and is started again; then each
worker replica the same way. Every response is the one a user expects, and every bot intent
the API accepted is done exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from events.bus import Bus
from tests.busutil import count_on_subject
from tests.conftest import VALID_PROFILE, wait_for
from tests.controlplane import Child, ControlPlane, replica_envs
from tests.intentburst import assert_done_once, wait_intents_settled
from tests.lb import LoadBalancer, load_balancer

CLIENTS = 6
DRAIN_DELAY_S = "5"  # well above the balancer's readiness checks (every 0.1 s, 1 s timeout)


@dataclass
class Traffic:
    """What the clients saw: each answer that was not the expected one is a failure."""

    answered: int = 0
    failures: list[str] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # intent id -> bot id
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, response: httpx.Response, status: int) -> httpx.Response:
        self.answered += 1
        if response.status_code != status:
            request = response.request
            self.failures.append(f"{request.method} {request.url.path}: {response.status_code} {response.text[:300]}")
        return response


async def _user_journeys(http: httpx.AsyncClient, traffic: Traffic) -> None:
    """New users one after another: sign up, log in, create a bot, read it back."""
    while not traffic.stop.is_set():
        creds = {"email": f"roll-{uuid.uuid4().hex[:12]}@example.com", "password": "correct horse battery"}
        try:
            if traffic.expect(await http.post("/api/v1/auth/signup", json=creds), 201).status_code != 201:
                continue
            login = traffic.expect(await http.post("/api/v1/auth/login", json=creds), 200)
            if login.status_code != 200:
                continue
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            traffic.expect(await http.get("/api/v1/me", headers=auth), 200)
            created = traffic.expect(await http.post("/api/v1/bots", json=VALID_PROFILE, headers=auth), 202)
            if created.status_code != 202:
                continue
            traffic.accepted[created.json()["intent_id"]] = created.json()["bot_id"]
            traffic.expect(await http.get(f"/api/v1/intents/{created.json()['intent_id']}", headers=auth), 200)
            traffic.expect(await http.get("/api/v1/bots", headers=auth), 200)
        except httpx.HTTPError as exc:  # the balancer itself never goes away: this is a failure too
            traffic.failures.append(f"client transport error: {exc!r}")


@pytest.fixture
def planes(api_settings: ApiSettings, tmp_path: Path) -> Iterator[tuple[ControlPlane, ControlPlane, ControlPlane]]:
    """API replica A, API replica B and the workers, with the settings the conftest's API uses."""
    api_env, workers_env = replica_envs(
        api_settings,
        HMMTRADE_DRAIN_DELAY_S=DRAIN_DELAY_S,
        # every client comes through the balancer's one address: no auth limit may count them together
        HMMTRADE_SIGNUPS_PER_HOUR="1000000",
        HMMTRADE_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE="1000000",
    )
    homes = [tmp_path / name for name in ("api-a", "api-b", "workers")]
    for home in homes:
        home.mkdir()
    made = (ControlPlane(api_env, homes[0]), ControlPlane(api_env, homes[1]), ControlPlane(workers_env, homes[2]))
    yield made
    for plane in made:
        plane.kill_all()


async def _restart_api(plane: ControlPlane, replica: Child, balancer: LoadBalancer) -> Child:
    """SIGTERM, a clean exit, back on the same port, and serving through the balancer again."""
    exit_code = await asyncio.to_thread(replica.stop)
    assert exit_code == 0, replica.log()[-3000:]
    assert '"api.drain_started"' in replica.log()
    restarted = await plane.start_api()
    served = balancer.forwarded.get(plane.api_url, 0)

    async def serving_again() -> bool:
        return balancer.forwarded.get(plane.api_url, 0) > served

    await wait_for(serving_again, timeout_s=60, what=f"the balancer to send requests to {plane.api_url} again")
    return restarted


async def _restart_workers(plane: ControlPlane, replica: Child, traffic: Traffic) -> Child:
    exit_code = await asyncio.to_thread(replica.stop)
    assert exit_code == 0, replica.log()[-3000:]
    restarted = await plane.start_workers()
    await _more_answers(traffic, 10)
    return restarted


async def _more_answers(traffic: Traffic, count: int) -> None:
    target = traffic.answered + count

    async def answered() -> bool:
        return traffic.answered >= target

    await wait_for(answered, timeout_s=60, what=f"{count} more answers")


async def test_a_rolling_restart_under_load_fails_no_request_and_loses_no_intent(
    planes: tuple[ControlPlane, ControlPlane, ControlPlane], db: asyncpg.Connection, bus: Bus
) -> None:
    plane_a, plane_b, workers = planes
    api_a, api_b = await asyncio.gather(plane_a.start_api(), plane_b.start_api())
    worker_1 = await workers.start_workers()
    worker_2 = await workers.start_workers()
    traffic = Traffic()
    async with (
        load_balancer([plane_a.api_url, plane_b.api_url]) as (url, balancer),
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        clients = [asyncio.create_task(_user_journeys(http, traffic)) for _ in range(CLIENTS)]
        try:
            await _more_answers(traffic, 30)
            api_a = await _restart_api(plane_a, api_a, balancer)
            api_b = await _restart_api(plane_b, api_b, balancer)
            worker_1 = await _restart_workers(workers, worker_1, traffic)
            worker_2 = await _restart_workers(workers, worker_2, traffic)
        finally:
            traffic.stop.set()
            await asyncio.gather(*clients)

    assert traffic.failures == [], f"{len(traffic.failures)} of {traffic.answered} failed: {traffic.failures[:10]}"
    assert traffic.accepted, "no bot was created"
    intent_ids = list(traffic.accepted)

    await wait_intents_settled(db, intent_ids, timeout_s=120)
    await assert_done_once(db, intent_ids)
    bot_ids = [uuid.UUID(bot_id) for bot_id in traffic.accepted.values()]
    assert await db.fetchval("SELECT count(*) FROM bots WHERE id = ANY($1::uuid[])", bot_ids) == len(bot_ids)
    created_events = [count_on_subject(bus.js, "EVENTS", f"events.bot.{bot_id}.created") for bot_id in bot_ids]
    assert set(await asyncio.gather(*created_events)) == {1}
    # the last replicas drain cleanly too
    for replica in (api_a, api_b, worker_1, worker_2):
        assert await asyncio.to_thread(replica.stop) == 0, replica.log()[-3000:]
