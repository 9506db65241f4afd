"""The Fly client rides out rate limits and outages of the real (emulated) Machines API, and gives up cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fly.backoff import RetryPolicy
from fly.client import FlyMachines
from fly.emu_faults import Refusal
from fly.emulator import FlyEmulator
from fly.errors import FlyRateLimited, FlyUnavailable
from tests.conftest import wait_for
from tests.flyutil import GRACEFUL, TOKEN, machine_config


class RecordingSleep:
    """Sleeps for real (so the emulator's rate limit refills) and remembers each delay."""

    def __init__(self, *, real: bool) -> None:
        self.real = real
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.real:
            await asyncio.sleep(seconds)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    async with FlyEmulator(token=TOKEN, data_dir=tmp_path / "fly") as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def client(http: httpx.AsyncClient, emulator: FlyEmulator, sleep: RecordingSleep, *, attempts: int = 6) -> FlyMachines:
    return FlyMachines(
        http,
        app_name=emulator.app_name,
        token=TOKEN,
        base_url=emulator.url,
        retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.05, max_delay_s=0.2),
        sleep=sleep,
    )


async def test_the_rate_limit_is_waited_out_as_retry_after_says(http: httpx.AsyncClient, emulator: FlyEmulator) -> None:
    sleep = RecordingSleep(real=True)
    fly = client(http, emulator, sleep)
    machine = await fly.create(machine_config(GRACEFUL))
    emulator.faults.rate_limit(per_s=2, burst=3)  # Fly: about 1/s per action and machine, bursts of 3

    states = [(await fly.get(machine.id)).id for _ in range(5)]

    assert states == [machine.id] * 5
    assert emulator.faults.refused >= 1
    assert sleep.delays and all(delay == 1.0 for delay in sleep.delays)  # the emulator's Retry-After: 1


async def test_a_retry_after_beyond_the_budget_fails_at_once_with_the_hint(
    http: httpx.AsyncClient, emulator: FlyEmulator
) -> None:
    sleep = RecordingSleep(real=False)
    fly = client(http, emulator, sleep)
    emulator.faults.fail_next.append(Refusal(429, retry_after_s=120))
    with pytest.raises(FlyRateLimited) as limited:
        await fly.list()
    assert limited.value.retry_after_s == 120
    assert sleep.delays == []


async def test_server_errors_are_retried_with_growing_delays(http: httpx.AsyncClient, emulator: FlyEmulator) -> None:
    sleep = RecordingSleep(real=False)
    fly = client(http, emulator, sleep)
    machine = await fly.create(machine_config(GRACEFUL))
    emulator.faults.fail_next.extend([Refusal(503), Refusal(502), Refusal(500)])

    assert (await fly.get(machine.id)).id == machine.id

    assert len(sleep.delays) == 3
    assert 0.025 <= sleep.delays[0] <= 0.05 and 0.05 <= sleep.delays[1] <= 0.1 and 0.1 <= sleep.delays[2] <= 0.2


async def test_a_503_with_retry_after_is_retried_after_that_long(
    http: httpx.AsyncClient, emulator: FlyEmulator
) -> None:
    sleep = RecordingSleep(real=False)
    fly = client(http, emulator, sleep)
    emulator.faults.fail_next.append(Refusal(503, retry_after_s=2))
    assert await fly.list() == []
    assert sleep.delays == [2.0]


async def test_a_call_during_an_outage_completes_once_fly_is_back(
    http: httpx.AsyncClient, emulator: FlyEmulator
) -> None:
    fly = client(http, emulator, RecordingSleep(real=True), attempts=30)
    emulator.faults.outage = True
    listing = asyncio.create_task(fly.list())

    async def refused_twice() -> bool:
        return emulator.faults.refused >= 2

    await wait_for(refused_twice, what="the client to be refused twice", timeout_s=30)
    assert not listing.done()
    emulator.faults.outage = False
    assert await asyncio.wait_for(listing, 15) == []


async def test_an_outage_longer_than_the_budget_raises_fly_unavailable(
    http: httpx.AsyncClient, emulator: FlyEmulator
) -> None:
    fly = client(http, emulator, RecordingSleep(real=False), attempts=4)
    emulator.faults.outage = True
    with pytest.raises(FlyUnavailable) as down:
        await fly.list()
    assert down.value.status == 503
    assert emulator.faults.refused == 4


async def test_a_create_whose_answer_was_lost_makes_one_machine(http: httpx.AsyncClient, emulator: FlyEmulator) -> None:
    fly = client(http, emulator, RecordingSleep(real=False))
    emulator.faults.lose_next_create_answers = 1

    machine = await fly.create(machine_config(GRACEFUL, bot_id="bot-lost"))

    assert emulator.faults.refused == 1
    assert [m.id for m in await fly.list(metadata={"bot_id": "bot-lost"})] == [machine.id]


async def test_a_create_refused_by_an_outage_is_retried_into_one_machine(
    http: httpx.AsyncClient, emulator: FlyEmulator
) -> None:
    fly = client(http, emulator, RecordingSleep(real=False))
    emulator.faults.fail_next.extend([Refusal(503), Refusal(503)])
    machine = await fly.create(machine_config(GRACEFUL, bot_id="bot-outage"))
    assert [m.id for m in await fly.list()] == [machine.id]


async def test_faults_are_switchable_over_http(http: httpx.AsyncClient, emulator: FlyEmulator) -> None:
    """How a test drives an emulator that runs as its own process (``hmmtrade fly-emulator``)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    switched = await http.put(f"{emulator.url}/_emulator/faults", json={"outage": True}, headers=auth)
    assert switched.status_code == 200 and switched.json()["outage"] is True
    fly = client(http, emulator, RecordingSleep(real=False), attempts=2)
    with pytest.raises(FlyUnavailable):
        await fly.list()
    await http.put(f"{emulator.url}/_emulator/faults", json={"outage": False}, headers=auth)
    assert await fly.list() == []
    refused = await http.put(f"{emulator.url}/_emulator/faults", json={"outage": True}, headers={})
    assert refused.status_code == 401
