"""A Fly outage becomes an incident: the emulator's outage switch is on for a while; the workers'
incident watch opens a ``fly`` incident once Fly has failed past the threshold and closes it after
recovery. Affected are exactly the paid users whose hosted bots could not run (here: a bot started
during the outage), for exactly the downtime the hosting worker recorded inside the window; a paid
user whose bot ran on untouched and a free user get nothing. The outage is seconds long, inside the
grace period, so the affected user's credit is recorded as none due and Stripe is not called.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from billing.emulator import StripeEmulator
from fly.emulator import FlyEmulator
from incidents.affected import downtime_in_window
from store import credits, downtime, incidents
from store.incidents import Incident
from store.pool import create_pool
from tests.conftest import VALID_PROFILE, signup_and_login, wait_for
from tests.hostedstack import Cloud, hosted_cloud
from tests.hostedutil import HOSTED_PROFILE, bot_view, hosted_user

OPEN_AFTER_S = 2.0
CLOSE_AFTER_S = 2.0
DOWN_FOR_S = 3.0


@pytest.fixture
def stripe_emulator() -> Iterator[StripeEmulator]:
    emulator = StripeEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=4)
    await pool.execute("DELETE FROM incidents")
    yield pool
    await pool.execute("DELETE FROM incidents")
    await pool.close()


@pytest.fixture
async def cloud(
    api_settings: ApiSettings,
    emulator: FlyEmulator,
    machine_key_dir: Path,
    stripe_emulator: StripeEmulator,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cloud]:
    monkeypatch.setenv("STRIPE_API_BASE", stripe_emulator.url)
    monkeypatch.setenv("HMMTRADE_INCIDENT_WATCH_S", "0.5")
    monkeypatch.setenv("HMMTRADE_INCIDENT_OPEN_AFTER_S", str(OPEN_AFTER_S))
    monkeypatch.setenv("HMMTRADE_INCIDENT_CLOSE_AFTER_S", str(CLOSE_AFTER_S))
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch) as running:
        yield running


async def _create(api: httpx.AsyncClient, auth: dict[str, str], profile: dict[str, Any]) -> str:
    created = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert created.status_code == 202, created.text
    return str(created.json()["bot_id"])


async def _fly_incident(pool: asyncpg.Pool, *, closed: bool) -> Incident | None:
    rows = [i for i in await incidents.history(pool, since=datetime(2000, 1, 1, tzinfo=UTC)) if i.component == "fly"]
    return rows[0] if rows and (rows[0].ended_at is not None) == closed else None


async def test_a_fly_outage_opens_and_closes_an_incident_that_names_exactly_the_bots_that_were_down(
    cloud: Cloud, emulator: FlyEmulator, pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    api = cloud.api
    untouched = await hosted_user(api, db, "pro")  # its bot runs before the outage and on through it
    untouched_bot = await _create(api, untouched, HOSTED_PROFILE)

    async def running(auth: dict[str, str], bot_id: str) -> bool:
        return (await bot_view(api, auth, bot_id))["status"] == "running"

    await wait_for(lambda: running(untouched, untouched_bot), timeout_s=90, what="the first bot to run")
    free = await signup_and_login(api)  # on the free plan
    free_bot = await _create(api, free, VALID_PROFILE)  # a local bot: Fly is not its concern

    outage_began = datetime.now(UTC)
    emulator.faults.outage = True
    affected = await hosted_user(api, db, "pro")
    affected_bot = await _create(api, affected, HOSTED_PROFILE)  # started while Fly refuses

    async def bot_down() -> bool:
        return bool(await downtime.of_bot(pool, uuid.UUID(affected_bot)))

    await wait_for(bot_down, timeout_s=60, what="the refused launch to be recorded as downtime")
    incident = await wait_for(lambda: _fly_incident(pool, closed=False), timeout_s=60, what="a fly incident to open")
    assert outage_began <= incident.started_at and incident.opened_by == "watch"
    assert (incident.updates[0].at - incident.started_at).total_seconds() >= OPEN_AFTER_S  # not before the threshold
    banner = {
        name: (await api.get("/api/v1/incidents/mine", headers=auth)).json()["incidents"]
        for name, auth in (("affected", affected), ("free", free))
    }
    assert [i["id"] for i in banner["affected"]] == [str(incident.id)] and banner["free"] == []

    async def down_a_while() -> bool:  # the outage goes on: the bot's downtime inside the incident is seconds long
        [interval] = await downtime.of_bot(pool, uuid.UUID(affected_bot))
        return (datetime.now(UTC) - max(interval.started_at, incident.started_at)).total_seconds() >= DOWN_FOR_S

    await wait_for(down_a_while, timeout_s=60, what=f"the bot to be down {DOWN_FOR_S} s into the incident")
    outage_ended = datetime.now(UTC)
    emulator.faults.outage = False
    closed = await wait_for(lambda: _fly_incident(pool, closed=True), timeout_s=60, what="the incident to close")
    assert closed.ended_at is not None and closed.ended_at >= outage_ended
    await wait_for(lambda: running(affected, affected_bot), timeout_s=120, what="the refused bot to launch after")

    async def settled() -> bool:
        return bool(
            await pool.fetchval("SELECT credits_settled_at IS NOT NULL FROM incidents WHERE id = $1", closed.id)
        )

    await wait_for(settled, timeout_s=60, what="the incident's credits to be settled")
    recorded = await credits.of_incident(pool, closed.id)
    intervals = await downtime.of_bot(pool, uuid.UUID(affected_bot))
    window = f"incident {closed.started_at}..{closed.ended_at}, the bot's downtime {intervals}"
    assert len(recorded) == 1, f"credits {recorded}; {window}"
    [credit] = recorded
    [expected] = downtime_in_window(intervals, closed.started_at, closed.ended_at)
    assert credit.user_id == expected.user_id and [b.bot_id for b in credit.bots] == [uuid.UUID(affected_bot)]
    assert credit.bot_seconds == expected.down_seconds >= DOWN_FOR_S
    assert (credit.status, credit.amount_cents, credit.credited_seconds) == (
        "none_due",
        0,
        0,
    )  # within the grace period
    assert await downtime.of_bot(pool, uuid.UUID(untouched_bot)) == []
    assert await downtime.of_bot(pool, uuid.UUID(free_bot)) == []
    history = (await api.get("/api/v1/incidents")).json()["incidents"]
    assert [(i["id"], i["ended_at"] is not None, i["updates"][-1]["state"]) for i in history][:1] == [
        (str(closed.id), True, "resolved")
    ]
