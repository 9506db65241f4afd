"""Wiring of the hosting consumer: the Fly client, the machine-JWT signer, the puller.

Hosted bots are launched only when the workers know where the Machines API is
(``FLY_API_TOKEN``) and how machines reach the control plane (``HMMTRADE_BOT_API_URL``);
otherwise the consumer is not started and hosted bots' events wait in the stream.
With hosting enabled, the scale-to-zero scheduler (``workers.waker``) and the relaunch watch
(``workers.hosting_watch``: machines refused at boot get a fresh bootstrap) run beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import asyncpg
import httpx
import structlog

from events.bus import Bus
from events.pull import BatchPuller
from events.topology import HOSTING
from fly.client import FlyMachines
from fly.settings import FlySettings
from workers import hosting
from workers.failpoints import Failpoints
from workers.hosting_watch import watch_refused_machines
from workers.lease import Fence, Singleton, consumer_job, replica_id
from workers.machine_identity import machine_tokens_for
from workers.settings import WorkerSettings
from workers.wake_launcher import HostingLauncher
from workers.wake_roster import PostgresRoster
from workers.waker import SystemClock, WakeScheduler, WallClock

log = structlog.get_logger(__name__)


@dataclass
class HostedBots:
    """The hosting consumer, the wake scheduler and the relaunch watch: each a singleton that one
    worker replica runs at a time (``workers.lease``); the others stand by."""

    consumer: Singleton
    http: httpx.AsyncClient
    scheduler: WakeScheduler | None = None
    singletons: list[Singleton] = field(default_factory=list)

    async def stop(self) -> None:
        # cancelled even mid-wake or mid-relaunch: a launch not yet recorded is found again next time
        for singleton in (*self.singletons, self.consumer):
            await singleton.stop()
        await self.http.aclose()


def build_hosting_deps(
    settings: WorkerSettings,
    *,
    pool: asyncpg.Pool,
    bus: Bus,
    http: httpx.AsyncClient,
    failpoints: Failpoints | None = None,
) -> hosting.HostingDeps:
    fly_settings = FlySettings()
    assert settings.bot_api_url is not None
    return hosting.HostingDeps(
        pool=pool,
        bus=bus,
        fly=FlyMachines.from_settings(fly_settings, http),
        tokens=machine_tokens_for(settings),
        machines=hosting.BotMachineSettings(
            image=fly_settings.bot_image,
            api_url=settings.bot_api_url,
            nats_url=settings.bot_nats_url or settings.nats_url,
            replay_pace=settings.hosted_replay_pace,
            bootstrap_ttl_s=settings.machine_bootstrap_ttl_s,
            alpaca_url=settings.alpaca_url,
            exchange_url=settings.exchange_url,
        ),
        failpoints=failpoints or Failpoints(),
    )


def build_wake_scheduler(
    settings: WorkerSettings, deps: hosting.HostingDeps, *, clock: Callable[[], datetime] | None = None
) -> WakeScheduler:
    """The scale-to-zero scheduler over Postgres and ``hosting.wake``; ``clock`` gives "now" (tests move it)."""
    return WakeScheduler(
        launcher=HostingLauncher(deps),
        roster=PostgresRoster(deps.pool),
        clock=SystemClock() if clock is None else WallClock(clock),
        delay=timedelta(minutes=settings.wake_delay_minutes),
        poll_s=settings.wake_poll_s,
        retry_s=settings.wake_poll_s,
    )


def start_hosting(
    settings: WorkerSettings,
    *,
    pool: asyncpg.Pool,
    bus: Bus,
    failpoints: Failpoints | None = None,
    clock: Callable[[], datetime] | None = None,
    holder: str | None = None,
) -> HostedBots | None:
    if FlySettings().api_token is None or not settings.bot_api_url:
        log.warning(
            "hosting.disabled",
            detail="set FLY_API_TOKEN and HMMTRADE_BOT_API_URL to launch hosted bots; their events wait meanwhile",
        )
        return None
    http = httpx.AsyncClient(timeout=60)
    deps = build_hosting_deps(settings, pool=pool, bus=bus, http=http, failpoints=failpoints)
    holder = holder or replica_id()

    def hosting_puller(fence: Fence) -> BatchPuller:  # one replica at a time: a bot's start runs before its stop
        return BatchPuller(bus, HOSTING, partial(hosting.handle_batch, deps=deps), batch_size=64)

    scheduler = build_wake_scheduler(settings, deps, clock=clock)

    async def wake_bots(fence: Fence) -> None:
        await scheduler.run(asyncio.Event(), guard=partial(fenced, pool, fence))

    async def relaunch_refused(fence: Fence) -> None:
        await watch_refused_machines(
            deps, asyncio.Event(), every_s=settings.machine_watch_s, max_relaunches=settings.machine_relaunches
        )

    consumer = Singleton(bus, pool, HOSTING.durable, consumer_job(bus, HOSTING, hosting_puller), holder=holder)
    singletons = [
        Singleton(bus, pool, "wake-scheduler", wake_bots, holder=holder),
        Singleton(bus, pool, "relaunch-watch", relaunch_refused, holder=holder),
    ]
    for singleton in (consumer, *singletons):
        singleton.start()
    return HostedBots(consumer=consumer, http=http, scheduler=scheduler, singletons=singletons)


@contextlib.asynccontextmanager
async def fenced(pool: asyncpg.Pool, fence: Fence) -> AsyncIterator[None]:
    """One wake under the scheduler's fence: a successor's ``take`` waits until the wake is
    launched and recorded, and a stale scheduler finds the fence taken and launches nothing."""
    async with pool.acquire() as conn, conn.transaction():
        await fence.check(conn)
        yield
