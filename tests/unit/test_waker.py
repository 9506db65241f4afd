"""The scale-to-zero scheduler wakes each sleeping bot once per session close, after the close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.fakes.wake import FakeClock, FakeLauncher, FakeRoster
from workers.waker import SleepingBot, WakeScheduler, wake_id_for

NY = ZoneInfo("America/New_York")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def scheduler(clock: FakeClock, roster: FakeRoster, launcher: FakeLauncher) -> WakeScheduler:
    return WakeScheduler(launcher=launcher, roster=roster, clock=clock, poll_s=3600, retry_s=300)


async def run_until(waker: WakeScheduler, clock: FakeClock, end: datetime) -> None:
    while clock.now() < end:
        await waker.tick()
        await clock.sleep(waker.seconds_until_next_tick())


def closes(roster: FakeRoster) -> list[datetime]:
    return [close for _, close, _, _ in roster.wakes]


async def test_a_bot_wakes_after_each_close_across_thanksgiving_and_a_weekend() -> None:
    clock = FakeClock(ny(2024, 11, 25, 12))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=clock.now()))
    waker = scheduler(clock, roster, launcher)

    await run_until(waker, clock, ny(2024, 12, 2, 18))

    assert [at for _, _, at in launcher.launched] == [
        ny(2024, 11, 25, 16, 15),
        ny(2024, 11, 26, 16, 15),
        ny(2024, 11, 27, 16, 15),
        ny(2024, 11, 29, 13, 15),  # Thanksgiving skipped; the day after closes at 13:00
        ny(2024, 12, 2, 16, 15),  # the weekend skipped
    ]
    assert closes(roster) == [
        ny(2024, 11, 25, 16),
        ny(2024, 11, 26, 16),
        ny(2024, 11, 27, 16),
        ny(2024, 11, 29, 13),
        ny(2024, 12, 2, 16),
    ]


async def test_each_wake_is_launched_under_the_id_of_its_bot_and_close() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 20))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=ny(2024, 3, 5, 9)))
    await scheduler(clock, roster, launcher).tick()

    assert launcher.launched == [("bot-1", "wake:bot-1:20240305T2100Z", clock.now())]
    assert roster.wakes == [("bot-1", ny(2024, 3, 5, 16), "wake:bot-1:20240305T2100Z", clock.now())]


def test_a_wake_id_fits_the_message_id_rules_with_a_uuid_and_hostings_suffix() -> None:
    wake_id = wake_id_for("0b6f2c1e-4a7d-4c52-9d0e-1f2a3b4c5d6e", ny(2024, 3, 5, 16))
    event_id = f"{wake_id}:provisioned"
    assert len(event_id) <= 128
    assert all(ch.isalnum() or ch in "_.:-" for ch in event_id)


async def test_a_second_tick_in_the_same_session_wakes_nobody() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 20))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=ny(2024, 3, 5, 9)))
    waker = scheduler(clock, roster, launcher)
    assert await waker.tick() == ["bot-1"]
    clock.current = ny(2024, 3, 6, 9)  # the next morning, before the next close
    assert await waker.tick() == []
    assert len(launcher.launched) == 1


async def test_a_restarted_scheduler_does_not_repeat_a_recorded_wake() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 20))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=ny(2024, 3, 5, 9)))
    assert await scheduler(clock, roster, launcher).tick() == ["bot-1"]
    restarted = scheduler(clock, roster, launcher)  # no memory: only the roster's record
    assert await restarted.tick() == []
    assert len(launcher.launched) == 1


async def test_the_loop_sleeps_until_the_next_wake_rather_than_spinning() -> None:
    clock = FakeClock(ny(2024, 3, 8, 17))  # Friday after the close
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=LONG_AGO, last_close=ny(2024, 3, 8, 16)))
    waker = WakeScheduler(launcher=launcher, roster=roster, clock=clock, poll_s=10**7)

    await run_until(waker, clock, ny(2024, 3, 11, 17))

    assert [at for _, _, at in launcher.launched] == [ny(2024, 3, 11, 16, 15)]
    assert len(clock.slept) <= 3  # one long sleep over the weekend, not a poll every minute


async def test_each_bot_follows_its_own_exchange() -> None:
    clock = FakeClock(datetime(2024, 12, 24, 8, tzinfo=UTC))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("us", since=clock.now(), exchange="XNYS"))
    roster.add(SleepingBot("uk", since=clock.now(), exchange="XLON"))
    waker = scheduler(clock, roster, launcher)

    await run_until(waker, clock, datetime(2024, 12, 24, 23, tzinfo=UTC))

    assert [(bot, at) for bot, _, at in launcher.launched] == [
        ("uk", datetime(2024, 12, 24, 12, 45, tzinfo=UTC)),  # LSE Christmas Eve close 12:30
        ("us", ny(2024, 12, 24, 13, 15)),  # NYSE Christmas Eve close 13:00
    ]


async def test_a_scheduler_that_was_down_catches_up_with_one_wake_for_the_latest_close() -> None:
    clock = FakeClock(ny(2024, 3, 6, 20))  # Wednesday evening; the last wake was for Monday's close
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=LONG_AGO, last_close=ny(2024, 3, 4, 16)))
    waker = scheduler(clock, roster, launcher)

    assert await waker.tick() == ["bot-1"]
    assert await waker.tick() == []
    assert launcher.launched == [("bot-1", "wake:bot-1:20240306T2100Z", ny(2024, 3, 6, 20))]  # Tuesday's folded in
    await run_until(waker, clock, ny(2024, 3, 7, 17))
    assert closes(roster) == [ny(2024, 3, 6, 16), ny(2024, 3, 7, 16)]


async def test_a_failed_launch_is_retried_later_and_not_recorded_as_a_wake() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 15))
    roster, launcher = FakeRoster(), FakeLauncher(clock, failures_left=2)
    roster.add(SleepingBot("bot-1", since=LONG_AGO, last_close=ny(2024, 3, 4, 16)))
    waker = scheduler(clock, roster, launcher)

    await run_until(waker, clock, ny(2024, 3, 5, 17))

    assert [at for _, _, at in launcher.launched] == [ny(2024, 3, 5, 16, 25)]  # two failures, 300 s apart
    assert [(close, at) for _, close, _, at in roster.wakes] == [(ny(2024, 3, 5, 16), ny(2024, 3, 5, 16, 25))]


async def test_a_retry_made_moot_by_a_recorded_wake_is_dropped_and_the_loop_sleeps_till_the_next_close() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 15))
    roster, launcher = FakeRoster(), FakeLauncher(clock, failures_left=1)
    roster.add(SleepingBot("bot-1", since=LONG_AGO, last_close=ny(2024, 3, 4, 16)))
    waker = scheduler(clock, roster, launcher)
    assert await waker.tick() == []  # the launch failed: a retry is pending
    await roster.record_wake("bot-1", ny(2024, 3, 5, 16), "wake:bot-1:20240305T2100Z", clock.now())  # another replica
    clock.current = ny(2024, 3, 5, 17)  # past the retry time

    assert await waker.tick() == []
    assert waker.seconds_until_next_tick() == 3600  # the next close is a day away: sleep a full poll, don't spin
    assert launcher.launched == []


async def test_one_failing_bot_does_not_hold_up_the_others() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 15))
    roster, launcher = FakeRoster(), FakeLauncher(clock, failures_left=1)
    roster.add(SleepingBot("first", since=LONG_AGO, last_close=ny(2024, 3, 4, 16)))
    roster.add(SleepingBot("second", since=LONG_AGO, last_close=ny(2024, 3, 4, 16)))
    waker = scheduler(clock, roster, launcher)
    assert await waker.tick() == ["second"]


async def test_a_bot_removed_from_the_roster_is_no_longer_woken() -> None:
    clock = FakeClock(ny(2024, 3, 5, 12))
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=clock.now()))
    waker = scheduler(clock, roster, launcher)
    await waker.tick()
    del roster.bots["bot-1"]  # stopped or deleted: the roster lists running bots only
    await run_until(waker, clock, ny(2024, 3, 6, 17))
    assert launcher.launched == []


async def test_a_bot_stopped_after_the_roster_listed_it_is_not_recorded_as_woken() -> None:
    clock = FakeClock(ny(2024, 3, 5, 16, 20))
    roster, launcher = FakeRoster(), FakeLauncher(clock, stopped={"bot-1"})
    roster.add(SleepingBot("bot-1", since=ny(2024, 3, 5, 9)))
    assert await scheduler(clock, roster, launcher).tick() == []
    assert roster.wakes == []


async def test_a_new_bot_is_first_woken_at_the_close_after_its_creation_not_at_once() -> None:
    clock = FakeClock(ny(2024, 3, 5, 18))  # created after today's close: its first run took today's bar
    roster, launcher = FakeRoster(), FakeLauncher(clock)
    roster.add(SleepingBot("bot-1", since=clock.now()))
    waker = scheduler(clock, roster, launcher)
    assert await waker.tick() == []
    await run_until(waker, clock, ny(2024, 3, 6, 17))
    assert [at for _, _, at in launcher.launched] == [ny(2024, 3, 6, 16, 15)]


async def test_run_stops_promptly_when_asked() -> None:
    clock = FakeClock(ny(2024, 3, 5, 12))
    roster, launcher = FakeRoster(), FakeLauncher(clock)

    class SlowClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(3600)

    waker = WakeScheduler(launcher=launcher, roster=roster, clock=SlowClock(clock.current))
    stop = asyncio.Event()
    running = asyncio.create_task(waker.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 5)
