"""The scale-to-zero scheduler starts each sleeping bot's machine once per trading day, after the close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.fakes.wake import FakeClock, FakeRoster, FakeStarter
from workers.waker import SleepingBot, WakeScheduler

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def scheduler(clock: FakeClock, roster: FakeRoster, starter: FakeStarter) -> WakeScheduler:
    return WakeScheduler(starter=starter, roster=roster, clock=clock, poll_s=3600, retry_s=300)


async def run_until(waker: WakeScheduler, clock: FakeClock, end: datetime) -> None:
    while clock.now() < end:
        await waker.tick()
        await clock.sleep(waker.seconds_until_next_tick())


async def test_a_bot_wakes_after_each_close_across_thanksgiving_and_a_weekend() -> None:
    clock = FakeClock(ny(2024, 11, 25, 12))
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("bot-1", "m-1"))
    waker = scheduler(clock, roster, starter)

    await run_until(waker, clock, ny(2024, 12, 2, 18))

    assert [at for _, at in starter.started] == [
        ny(2024, 11, 25, 16, 15),
        ny(2024, 11, 26, 16, 15),
        ny(2024, 11, 27, 16, 15),
        ny(2024, 11, 29, 13, 15),  # Thanksgiving skipped; the day after closes at 13:00
        ny(2024, 12, 2, 16, 15),  # the weekend skipped
    ]
    assert roster.wakes == [("bot-1", at) for _, at in starter.started]


async def test_the_loop_sleeps_until_the_next_wake_rather_than_spinning() -> None:
    clock = FakeClock(ny(2024, 3, 8, 17))  # Friday after the close
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("bot-1", "m-1", last_woken_at=ny(2024, 3, 8, 16, 15)))
    waker = WakeScheduler(starter=starter, roster=roster, clock=clock, poll_s=10**7)

    await run_until(waker, clock, ny(2024, 3, 11, 17))

    assert [at for _, at in starter.started] == [ny(2024, 3, 11, 16, 15)]
    assert len(clock.slept) <= 3  # one long sleep over the weekend, not a poll every minute


async def test_each_bot_follows_its_own_exchange() -> None:
    clock = FakeClock(datetime(2024, 12, 24, 8, tzinfo=UTC))
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("us", "m-us", exchange="XNYS"))
    roster.add(SleepingBot("uk", "m-uk", exchange="XLON"))
    waker = scheduler(clock, roster, starter)

    await run_until(waker, clock, datetime(2024, 12, 24, 23, tzinfo=UTC))

    assert starter.started == [
        ("m-uk", datetime(2024, 12, 24, 12, 45, tzinfo=UTC)),  # LSE Christmas Eve close 12:30
        ("m-us", ny(2024, 12, 24, 13, 15)),  # NYSE Christmas Eve close 13:00
    ]


async def test_a_scheduler_that_was_down_catches_up_with_one_wake() -> None:
    clock = FakeClock(ny(2024, 3, 6, 20))  # Wednesday evening; the last wake was Monday
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("bot-1", "m-1", last_woken_at=ny(2024, 3, 4, 16, 15)))
    waker = scheduler(clock, roster, starter)

    assert await waker.tick() == ["bot-1"]
    assert await waker.tick() == []
    assert starter.started == [("m-1", ny(2024, 3, 6, 20))]
    await run_until(waker, clock, ny(2024, 3, 7, 17))
    assert [at for _, at in starter.started][1:] == [ny(2024, 3, 7, 16, 15)]


async def test_a_failed_start_is_retried_later_and_not_recorded_as_a_wake() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 15))
    roster, starter = FakeRoster(), FakeStarter(clock, failures_left=2)
    roster.add(SleepingBot("bot-1", "m-1", last_woken_at=ny(2024, 3, 4, 16, 15)))
    waker = scheduler(clock, roster, starter)

    await run_until(waker, clock, ny(2024, 3, 5, 17))

    assert starter.started == [("m-1", ny(2024, 3, 5, 16, 25))]  # two failures, 300 s apart
    assert roster.wakes == [("bot-1", ny(2024, 3, 5, 16, 25))]


async def test_one_failing_bot_does_not_hold_up_the_others() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 15))
    roster, starter = FakeRoster(), FakeStarter(clock, failures_left=1)
    roster.add(SleepingBot("first", "m-1", last_woken_at=ny(2024, 3, 4, 16, 15)))
    roster.add(SleepingBot("second", "m-2", last_woken_at=ny(2024, 3, 4, 16, 15)))
    waker = scheduler(clock, roster, starter)
    assert await waker.tick() == ["second"]


async def test_a_bot_removed_from_the_roster_is_no_longer_woken() -> None:
    clock = FakeClock(ny(2024, 3, 5, 12))
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("bot-1", "m-1"))
    waker = scheduler(clock, roster, starter)
    await waker.tick()
    del roster.bots["bot-1"]
    await run_until(waker, clock, ny(2024, 3, 6, 17))
    assert starter.started == []


async def test_a_new_bot_is_first_woken_at_the_next_close_not_at_once() -> None:
    clock = FakeClock(ny(2024, 3, 5, 18))  # after today's wake time
    roster, starter = FakeRoster(), FakeStarter(clock)
    roster.add(SleepingBot("bot-1", "m-1"))
    waker = scheduler(clock, roster, starter)
    assert await waker.tick() == []
    await run_until(waker, clock, ny(2024, 3, 6, 17))
    assert starter.started == [("m-1", ny(2024, 3, 6, 16, 15))]


async def test_run_stops_promptly_when_asked() -> None:
    clock = FakeClock(ny(2024, 3, 5, 12))
    roster, starter = FakeRoster(), FakeStarter(clock)

    class SlowClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(3600)

    waker = WakeScheduler(starter=starter, roster=roster, clock=SlowClock(clock.current))
    stop = asyncio.Event()
    running = asyncio.create_task(waker.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 5)
