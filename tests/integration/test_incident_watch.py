"""The incident watch's thresholds on a real Postgres, with probes the test switches and a clock it
moves: an incident opens only after ``open_after`` of failing and starts at the first failing look;
it closes after ``close_after`` of health and ends at the first healthy look; a single bad look
opens nothing; an operator's incident is left for the operator; real calls that all fail count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from api.status import ProbeFailed, Verdict
from incidents.service import IncidentService
from incidents.watch import IncidentWatch
from metrics.vendor_tally import VendorTally
from store import incidents
from store.pool import create_pool

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Switch:
    def __init__(self) -> None:
        self.failing = False

    async def __call__(self) -> Verdict:
        if self.failing:
            raise ProbeFailed("Fly Machines answered 503")
        return Verdict("answering")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=2)
    await pool.execute("DELETE FROM incidents")
    yield pool
    await pool.execute("DELETE FROM incidents")
    await pool.close()


def _watch(pool: asyncpg.Pool, fly: Switch, clock: Clock, tally: VendorTally | None = None) -> IncidentWatch:
    return IncidentWatch(
        IncidentService(pool, None, clock=clock),
        {"fly": fly},
        every_s=1,
        open_after_s=60,
        close_after_s=120,
        tally=tally or VendorTally(),
        clock=clock,
    )


async def _looks(watch: IncidentWatch, clock: Clock, *seconds: int) -> None:
    for offset in seconds:
        clock.now = T0 + timedelta(seconds=offset)
        await watch.look()


async def test_an_incident_opens_past_the_threshold_and_closes_after_the_recovery_period(pool: asyncpg.Pool) -> None:
    fly, clock = Switch(), Clock()
    watch = _watch(pool, fly, clock)
    await _looks(watch, clock, 0)
    fly.failing = True
    await _looks(watch, clock, 10)  # one bad look
    fly.failing = False
    await _looks(watch, clock, 20)
    fly.failing = True
    await _looks(watch, clock, 30, 60, 89)
    assert await incidents.open_for(pool, "fly") is None  # failing 59 s: not yet
    await _looks(watch, clock, 90)
    opened = await incidents.open_for(pool, "fly")
    assert opened is not None and opened.started_at == T0 + timedelta(seconds=30) and opened.opened_by == "watch"
    await _looks(watch, clock, 100)
    assert [i.id for i in await incidents.open_incidents(pool)] == [opened.id]  # still the one incident

    fly.failing = False
    await _looks(watch, clock, 200, 319)
    assert (await incidents.open_for(pool, "fly")) is not None  # healthy 119 s: not yet
    await _looks(watch, clock, 320)
    closed = await incidents.get(pool, opened.id)
    assert closed is not None and closed.ended_at == T0 + timedelta(seconds=200)
    assert [u.state for u in closed.updates] == ["investigating", "resolved"]


async def test_the_watch_leaves_an_operators_incident_open(pool: asyncpg.Pool) -> None:
    fly, clock = Switch(), Clock()
    operators = await IncidentService(pool, None, clock=clock).open(
        component="fly", title="Planned", author="operator:ana"
    )
    watch = _watch(pool, fly, clock)
    await _looks(watch, clock, 0, 500, 1000)
    assert (await incidents.get(pool, operators.id)).ended_at is None  # type: ignore[union-attr]


async def test_real_calls_that_all_fail_count_as_failing_even_when_the_probe_answers(pool: asyncpg.Pool) -> None:
    fly, clock, tally = Switch(), Clock(), VendorTally()
    watch = _watch(pool, fly, clock, tally)
    for offset in (0, 30, 61):
        tally.record("fly", FlyLikeOutage())
        tally.record("fly", FlyLikeOutage())
        await _looks(watch, clock, offset)
    found = await incidents.open_for(pool, "fly")
    opened = await incidents.get(pool, found.id) if found else None
    assert opened is not None and opened.started_at == T0
    assert "our calls fail (2 x FlyUnavailable)" in opened.updates[0].message


async def test_a_not_found_among_the_calls_is_not_an_outage(pool: asyncpg.Pool) -> None:
    fly, clock, tally = Switch(), Clock(), VendorTally()
    watch = _watch(pool, fly, clock, tally)
    for offset in (0, 30, 61, 120):
        tally.record("fly", FlyNotFoundLike())
        await _looks(watch, clock, offset)
    assert await incidents.open_for(pool, "fly") is None


class FlyLikeOutage(Exception):
    pass


FlyLikeOutage.__name__ = "FlyUnavailable"


class FlyNotFoundLike(Exception):
    pass


FlyNotFoundLike.__name__ = "FlyNotFound"
