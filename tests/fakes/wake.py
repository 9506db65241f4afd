"""Hand-written fakes of the wake scheduler's ports: a clock that jumps, a roster, a launcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    wakes: list[tuple[str, datetime, str, datetime]] = field(default_factory=list)  # bot, close, wake id, at

    def add(self, bot: SleepingBot) -> None:
        self.bots[bot.bot_id] = bot

    async def sleeping_bots(self) -> Sequence[SleepingBot]:
        return list(self.bots.values())

    async def record_wake(self, bot_id: str, session_close: datetime, wake_id: str, woken_at: datetime) -> None:
        self.wakes.append((bot_id, session_close, wake_id, woken_at))
        self.bots[bot_id] = replace(self.bots[bot_id], last_close=session_close)


@dataclass
class FakeLauncher:
    clock: FakeClock
    launched: list[tuple[str, str, datetime]] = field(default_factory=list)  # bot, wake id, at
    failures_left: int = 0
    stopped: set[str] = field(default_factory=set)  # bots stopped since the roster listed them

    async def wake(self, bot_id: str, wake_id: str) -> bool:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("Fly is down")
        if bot_id in self.stopped:
            return False
        self.launched.append((bot_id, wake_id, self.clock.now()))
        return True
