"""A change to a user row reaches every API replica's user cache at once (Postgres NOTIFY),
whoever made it, and again after the listener's connection was cut.

The replicas here cache rows for an hour, so only the notice can make a change visible: a
test that passes shows the notice did it, not the TTL running out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from api.userevents import APPLICATION_NAME
from store.users import set_tier
from tests.conftest import signup_and_login, wait_for

HOUR = 3600.0


@dataclass
class Replica:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def listening(self) -> bool:
        return self.app.state.api.user_events.listening.is_set()  # type: ignore[no-any-return]


@pytest.fixture
async def replicas(api_settings: ApiSettings) -> AsyncIterator[list[Replica]]:
    """Two API replicas on one database, each with its own user cache (rows kept an hour)."""
    async with AsyncExitStack() as stack:
        started = []
        for n in range(2):
            app = create_app(api_settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            app.state.api.users.ttl_s = HOUR
            transport = httpx.ASGITransport(app=app)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=f"http://r{n}"))
            started.append(Replica(app, http))
        await wait_for(lambda: _true(all(r.listening for r in started)), what="the replicas to LISTEN")
        yield started


async def _true(value: bool) -> bool:
    return value


async def _tier(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await api.get("/api/v1/me", headers=headers)  # reads the cached row
    assert me.status_code == 200, me.text
    return str(me.json()["tier"])


async def _listener_pids(db: asyncpg.Connection) -> list[int]:
    rows = await db.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME)
    return sorted(r["pid"] for r in rows)


async def test_a_tier_change_by_an_operator_is_seen_by_every_replica_at_once(
    replicas: list[Replica], db: asyncpg.Connection
) -> None:
    email = f"cache-{uuid.uuid4().hex[:10]}@example.com"
    headers = await signup_and_login(replicas[0].http, email)
    assert [await _tier(r.http, headers) for r in replicas] == ["free", "free"]  # both replicas cache the row

    assert await set_tier(db, email, "pro")  # `hmmtrade users set-tier` (another process)
    for api in (r.http for r in replicas):

        async def upgraded(api: httpx.AsyncClient = api) -> bool:
            return await _tier(api, headers) == "pro"

        await wait_for(upgraded, what="the replica to see the pro tier")

    await db.execute("UPDATE users SET tier = 'team' WHERE lower(email) = lower($1)", email)  # plain SQL
    for api in (r.http for r in replicas):

        async def team(api: httpx.AsyncClient = api) -> bool:
            return await _tier(api, headers) == "team"

        await wait_for(team, what="the replica to see the team tier")


async def test_a_deleted_account_is_refused_by_every_replica_at_once(
    replicas: list[Replica], db: asyncpg.Connection
) -> None:
    email = f"gone-{uuid.uuid4().hex[:10]}@example.com"
    headers = await signup_and_login(replicas[0].http, email)
    assert [await _tier(r.http, headers) for r in replicas] == ["free", "free"]
    await db.execute("DELETE FROM users WHERE lower(email) = lower($1)", email)
    for api in (r.http for r in replicas):

        async def refused(api: httpx.AsyncClient = api) -> bool:
            return (await api.get("/api/v1/me", headers=headers)).status_code == 401

        await wait_for(refused, what="the replica to refuse the deleted account")


async def test_after_its_connection_is_cut_the_listener_reconnects_and_changes_reach_the_cache_again(
    replicas: list[Replica], db: asyncpg.Connection
) -> None:
    email = f"cut-{uuid.uuid4().hex[:10]}@example.com"
    headers = await signup_and_login(replicas[0].http, email)
    before = await _listener_pids(db)
    assert len(before) >= 2
    # what a database restart does to the listening sessions
    await db.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", before)

    async def reconnected() -> bool:
        now = await _listener_pids(db)
        return len(now) >= 2 and not set(now) & set(before) and all(r.listening for r in replicas)

    await wait_for(reconnected, what="the listeners to LISTEN again on new connections")
    assert [await _tier(r.http, headers) for r in replicas] == ["free", "free"]  # cached again
    assert await set_tier(db, email, "pro")
    for api in (r.http for r in replicas):

        async def upgraded(api: httpx.AsyncClient = api) -> bool:
            return await _tier(api, headers) == "pro"

        await wait_for(upgraded, what="the reconnected replica to see the pro tier")
