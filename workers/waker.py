"""The scale-to-zero scheduler: wakes each sleeping bot once per session close of its exchange.

A wake is *for* a session close: ``delay`` after the close, the scheduler asks the
``BotLauncher`` to launch the bot under the wake id ``wake:<bot id>:<close>``; the bot
restores its checkpoint from JetStream KV, runs ``--once`` over the bars that are due, exits,
and its machine stops. The wake is then recorded (bot, close) by the ``BotRoster``.

Idempotent and restart-safe: the roster's record says which close a bot was last woken for,
so a restarted scheduler neither repeats a wake nor forgets one; a wake launched but not yet
recorded (a crash in between) is launched again under the same wake id, which the launcher
treats as a no-op. A scheduler that was down across several closes wakes the bot once, for
the latest close (``--once`` takes every bar that is due). A failed launch is retried
``retry_s`` later without holding up the other bots.

Ports: ``BotLauncher`` (``workers.hosting.wake`` in the workers, see ``wake_launcher``),
``BotRoster`` (Postgres, see ``wake_roster``), ``Clock``; fakes in unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from store.fences import FenceLost
from workers.wake_schedule import DEFAULT_DELAY, DEFAULT_EXCHANGE, next_close, previous_close

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SleepingBot:
    """A bot that scales to zero, as the roster sees it."""

    bot_id: str
    since: datetime  # its first run (on creation) took the bars up to here: the first wake is after it
    exchange: str = DEFAULT_EXCHANGE
    last_close: datetime | None = None  # the session close of its last recorded wake


class BotLauncher(Protocol):
    async def wake(self, bot_id: str, wake_id: str) -> bool:
        """Launch the bot's run for ``wake_id`` (a repeated id is a no-op).

        ``False``: the bot no longer sleeps (stopped or deleted meanwhile), nothing to record.
        Any exception means "not launched": the wake is retried later.
        """


class BotRoster(Protocol):
    async def sleeping_bots(self) -> Sequence[SleepingBot]:
        """The running hosted bots that scale to zero, each with the close of its last wake."""

    async def record_wake(self, bot_id: str, session_close: datetime, wake_id: str, woken_at: datetime) -> None:
        """Remember the wake, so a restarted scheduler neither repeats nor forgets it."""


WakeGuard = Callable[[], AbstractAsyncContextManager[None]]
"""Entered around each wake (launch and record); raises ``FenceLost`` when this scheduler is stale."""


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class WallClock:
    """Real sleeps, but "now" from a callable: the workers' injectable clock (tests move it)."""

    now_fn: Callable[[], datetime]

    def now(self) -> datetime:
        return self.now_fn()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def wake_id_for(bot_id: str, session_close: datetime) -> str:
    """The launch id of a bot's wake for one close: the same every time, so a repeat is a no-op.

    Within ``MessageId`` (letters, digits, ``_.:-``; at most 128) once hosting appends its suffix.
    """
    return f"wake:{bot_id}:{session_close.astimezone(UTC):%Y%m%dT%H%MZ}"


def due_close(bot: SleepingBot, now: datetime, delay: timedelta) -> datetime | None:
    """The close to wake ``bot`` for at ``now``, or None if none is due.

    Due once the first close after its last wake (or its creation) is ``delay`` old; the wake
    is then for the latest close that old, so closes missed while the scheduler was down
    collapse into one.
    """
    floor = bot.last_close or bot.since
    if next_close(bot.exchange, floor) + delay > now:
        return None
    return previous_close(bot.exchange, now - delay)


@dataclass
class WakeScheduler:
    """Wakes due bots on each :meth:`tick`; :meth:`run` ticks until stopped."""

    launcher: BotLauncher
    roster: BotRoster
    clock: Clock = field(default_factory=SystemClock)
    delay: timedelta = DEFAULT_DELAY
    poll_s: float = 60.0
    retry_s: float = 60.0
    ticks: int = 0  # completed ticks (tests wait on it)
    _retry_at: dict[str, datetime] = field(default_factory=dict)
    _next_at: dict[str, datetime] = field(default_factory=dict)
    _guard: WakeGuard | None = None

    async def tick(self) -> list[str]:
        """Wake every bot that is due; returns the ids of the bots woken."""
        now = self.clock.now()
        bots = await self.roster.sleeping_bots()
        known = {bot.bot_id for bot in bots}
        for table in (self._retry_at, self._next_at):
            for gone in set(table) - known:
                del table[gone]
        woken: list[str] = []
        for bot in bots:
            if await self._wake_if_due(bot, now):
                woken.append(bot.bot_id)
        self.ticks += 1
        return woken

    async def _wake_if_due(self, bot: SleepingBot, now: datetime) -> bool:
        close = due_close(bot, now, self.delay)
        if close is None:  # (also when another scheduler recorded the wake meanwhile: forget any retry)
            self._retry_at.pop(bot.bot_id, None)
            self._next_at[bot.bot_id] = next_close(bot.exchange, bot.last_close or bot.since) + self.delay
            return False
        retry_at = self._retry_at.get(bot.bot_id)
        if retry_at is not None and retry_at > now:
            self._next_at[bot.bot_id] = retry_at
            return False
        wake_id = wake_id_for(bot.bot_id, close)
        async with self._guard() if self._guard is not None else contextlib.nullcontext():
            try:
                launched = await self.launcher.wake(bot.bot_id, wake_id)
            except Exception as exc:  # noqa: BLE001 (any port failure: retry later, keep waking the others)
                self._retry_at[bot.bot_id] = self._next_at[bot.bot_id] = now + timedelta(seconds=self.retry_s)
                log.warning("wake.launch_failed", bot_id=bot.bot_id, wake_id=wake_id, error=str(exc))
                return False
            self._retry_at.pop(bot.bot_id, None)
            if not launched:
                self._next_at.pop(bot.bot_id, None)
                log.info("wake.skipped", bot_id=bot.bot_id, wake_id=wake_id, reason="the bot no longer sleeps")
                return False
            await self.roster.record_wake(bot.bot_id, close, wake_id, now)
        self._next_at[bot.bot_id] = next_close(bot.exchange, close) + self.delay
        log.info("wake.launched", bot_id=bot.bot_id, wake_id=wake_id, next_wake=self._next_at[bot.bot_id].isoformat())
        return True

    def seconds_until_next_tick(self) -> float:
        """Until the earliest due wake, but at most ``poll_s`` (new bots join the roster meanwhile)."""
        soonest = min(self._next_at.values(), default=None)
        if soonest is None:
            return self.poll_s
        return max(0.0, min(self.poll_s, (soonest - self.clock.now()).total_seconds()))

    async def run(self, stop: asyncio.Event, *, guard: WakeGuard | None = None) -> None:
        """Tick until ``stop``; with several replicas, each wake runs inside ``guard`` (the
        scheduler's fence, see ``workers.lease``), and a :class:`FenceLost` ends the run."""
        self._guard = guard
        while not stop.is_set():
            try:
                await self.tick()
            except FenceLost:
                raise  # another replica schedules now
            except Exception as exc:  # noqa: BLE001 (the roster may be briefly unreachable: keep the loop alive)
                log.warning("wake.tick_failed", error=str(exc))
            sleeper = asyncio.ensure_future(self.clock.sleep(self.seconds_until_next_tick()))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this task is cancelled: leave no sleeper pending on the loop
                for pending in (sleeper, stopper):
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pending
