"""The scale-to-zero scheduler: starts each sleeping bot's machine after its market's close.

A woken bot restores its checkpoint, runs ``--once`` over the bars that are due, exits 0, and
its machine stops (restart policy ``on-failure``). The scheduler only starts machines, so a
wake is idempotent: a duplicate wake finds no new bars, and a missed one (the scheduler was
down) is caught up by a single wake that processes every bar since the last.

Ports: ``MachineStarter`` (the Fly client, via :class:`FlyStarter`), ``BotRoster`` (which bots
sleep, and when each was last woken: Postgres in the workers, a fake in tests), ``Clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from fly.port import Machines
from workers.wake_schedule import DEFAULT_DELAY, DEFAULT_EXCHANGE, next_wake

log = structlog.get_logger(__name__)


class MachineStarter(Protocol):
    async def start_machine(self, machine_id: str) -> None:
        """Boot the machine; any exception means "not started" and the wake is retried later."""


class BotRoster(Protocol):
    async def sleeping_bots(self) -> Sequence[SleepingBot]:
        """The hosted bots that scale to zero (see ``wake_schedule.wakes_on_schedule``), with their machines."""

    async def record_wake(self, bot_id: str, at: datetime) -> None:
        """Remember the wake, so a restarted scheduler neither repeats nor forgets it."""


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SleepingBot:
    bot_id: str
    machine_id: str
    exchange: str = DEFAULT_EXCHANGE
    last_woken_at: datetime | None = None


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class FlyStarter:
    """MachineStarter over the Fly Machines port (the real client, or the emulator through it)."""

    fly: Machines

    async def start_machine(self, machine_id: str) -> None:
        await self.fly.start(machine_id)


@dataclass
class WakeScheduler:
    """Wakes due bots on each :meth:`tick`; :meth:`run` ticks until stopped.

    A bot never woken before is due at the first wake after it is first seen; after a wake the
    next one is the first wake after now. A failed start is retried ``retry_s`` later.
    """

    starter: MachineStarter
    roster: BotRoster
    clock: Clock = field(default_factory=SystemClock)
    delay: timedelta = DEFAULT_DELAY
    poll_s: float = 60.0
    retry_s: float = 60.0
    _due: dict[str, datetime] = field(default_factory=dict)

    async def tick(self) -> list[str]:
        """Start every bot that is due; returns the ids of the bots woken."""
        now = self.clock.now()
        bots = await self.roster.sleeping_bots()
        known = {bot.bot_id for bot in bots}
        for gone in set(self._due) - known:
            del self._due[gone]
        woken: list[str] = []
        for bot in bots:
            due = self._due.get(bot.bot_id)
            if due is None:
                due = self._due[bot.bot_id] = next_wake(bot.exchange, bot.last_woken_at or now, delay=self.delay)
            if due > now:
                continue
            try:
                await self.starter.start_machine(bot.machine_id)
            except Exception as exc:  # noqa: BLE001 (any port failure: retry later, keep waking the others)
                self._due[bot.bot_id] = now + timedelta(seconds=self.retry_s)
                log.warning("wake.start_failed", bot_id=bot.bot_id, machine_id=bot.machine_id, error=str(exc))
                continue
            await self.roster.record_wake(bot.bot_id, now)
            self._due[bot.bot_id] = next_wake(bot.exchange, now, delay=self.delay)
            woken.append(bot.bot_id)
            log.info("wake.started", bot_id=bot.bot_id, machine_id=bot.machine_id, next_wake=self._due[bot.bot_id])
        return woken

    def seconds_until_next_tick(self) -> float:
        """Until the earliest due wake, but at most ``poll_s`` (new bots join the roster meanwhile)."""
        now = self.clock.now()
        soonest = min(self._due.values(), default=None)
        if soonest is None:
            return self.poll_s
        return max(0.0, min(self.poll_s, (soonest - now).total_seconds()))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 (the roster may be briefly unreachable: keep the loop alive)
                log.warning("wake.tick_failed", error=str(exc))
            sleeper = asyncio.ensure_future(self.clock.sleep(self.seconds_until_next_tick()))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for pending in (sleeper, stopper):
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
