"""The status board: one report per TTL however many ask, each probe bounded, the overall
status derived from the components, and a failing probe's own words never shown."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from api.status import Probe, ProbeFailed, StatusBoard, Verdict
from contracts.api import StatusComponent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ok(calls: list[str], name: str) -> Probe:
    async def probe() -> Verdict:
        calls.append(name)
        return Verdict("answering")

    return probe


def _probes(calls: list[str], **special: Probe) -> Mapping[StatusComponent, Probe]:
    names: tuple[StatusComponent, ...] = ("api", "bus", "database", "fly", "kms", "stripe")
    return {name: special.get(name) or _ok(calls, name) for name in names}


async def test_a_report_is_reused_until_its_ttl_and_built_once_for_concurrent_callers() -> None:
    calls: list[str] = []
    clock = Clock()
    board = StatusBoard(_probes(calls), ttl_s=5, clock=clock)
    reports = await asyncio.gather(*(board.report() for _ in range(10)))
    assert len(calls) == 6 and all(r is reports[0] for r in reports)
    clock.now += 4.9
    assert await board.report() is reports[0]
    clock.now += 0.2
    assert await board.report() is not reports[0]
    assert len(calls) == 12


async def test_a_probe_that_does_not_answer_in_time_is_down_and_the_rest_still_report() -> None:
    never = asyncio.Event()

    async def hangs() -> Verdict:
        await never.wait()
        return Verdict("unreachable code")

    board = StatusBoard(_probes([], kms=hangs), timeout_s=0.01)
    report = await board.report()
    statuses = {c.component: (c.status, c.detail) for c in report.components}
    assert statuses["kms"] == ("down", "no answer within 0.01 s")
    assert all(s == "ok" for name, (s, _) in statuses.items() if name != "kms")
    assert report.status == "degraded"


async def test_a_probe_that_will_not_stop_when_told_does_not_hold_the_report_back() -> None:
    """A client stuck mid-reconnect ignores its cancellation for a while: the report must not wait for it
    (the web app took the whole API for dead when the bus went away)."""
    released = asyncio.Event()

    async def stubborn() -> Verdict:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue  # refuses to stop until released
        return Verdict("late")

    board = StatusBoard(_probes([], bus=stubborn), timeout_s=0.01)
    report = await asyncio.wait_for(board.report(), timeout=60)  # the test's own guard, not a threshold
    statuses = {c.component: (c.status, c.detail) for c in report.components}
    assert statuses["bus"] == ("down", "no answer within 0.01 s")
    released.set()
    await asyncio.sleep(0)


async def test_a_core_component_down_makes_the_service_down() -> None:
    async def refused() -> Verdict:
        raise ProbeFailed("the database does not answer")

    report = await StatusBoard(_probes([], database=refused)).report()
    assert report.status == "down"
    assert [(c.status, c.detail) for c in report.components if c.component == "database"] == [
        ("down", "the database does not answer")
    ]


async def test_an_unexpected_error_is_named_by_kind_without_its_message() -> None:
    async def leaks() -> Verdict:
        raise RuntimeError("https://user:sk_live_secret@vendor.example/v1")

    report = await StatusBoard(_probes([], stripe=leaks)).report()
    [stripe] = [c for c in report.components if c.component == "stripe"]
    assert (stripe.status, stripe.detail) == ("down", "the check failed (RuntimeError)")


async def test_a_slow_answer_is_degraded() -> None:
    clock = Clock()

    async def slow() -> Verdict:
        clock.now += 1.5
        return Verdict("answering")

    report = await StatusBoard(_probes([], fly=slow), slow_s=1.0, clock=clock).report()
    [fly] = [c for c in report.components if c.component == "fly"]
    assert (fly.status, fly.detail) == ("degraded", "answering, but slowly (1.5 s)")
    assert report.status == "degraded"
