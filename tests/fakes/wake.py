"""Hand-written fakes of the wake scheduler's ports: a clock that jumps, a roster, a machine starter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workers.waker import SleepingBot


@dataclass
class FakeClock:
    """Time stands still until something sleeps; sleeping moves it forward at once."""

    current: datetime
    slept: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)


@dataclass
class FakeRoster:
    bots: dict[str, SleepingBot] = field(default_factory=dict)
    wakes: list[tuple[str, datetime]] = field(default_factory=list)

    def add(self, bot: SleepingBot) -> None:
        self.bots[bot.bot_id] = bot

    async def sleeping_bots(self) -> Sequence[SleepingBot]:
        return list(self.bots.values())

    async def record_wake(self, bot_id: str, at: datetime) -> None:
        self.wakes.append((bot_id, at))
        bot = self.bots[bot_id]
        self.bots[bot_id] = SleepingBot(bot.bot_id, bot.machine_id, bot.exchange, last_woken_at=at)


@dataclass
class FakeStarter:
    clock: FakeClock
    started: list[tuple[str, datetime]] = field(default_factory=list)
    failures_left: int = 0

    async def start_machine(self, machine_id: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("Fly is down")
        self.started.append((machine_id, self.clock.now()))
