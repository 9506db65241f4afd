"""Wiring of the hosting consumer: the Fly client, the machine-JWT signer, the puller.

Hosted bots are launched only when the workers know where the Machines API is
(``FLY_API_TOKEN``) and how machines reach the control plane (``HMMTRADE_BOT_API_URL``);
otherwise the consumer is not started and hosted bots' events wait in the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from workers.machine_identity import machine_tokens_for
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)


@dataclass
class HostedBots:
    puller: BatchPuller
    http: httpx.AsyncClient

    async def stop(self) -> None:
        await self.puller.stop()
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
        ),
        failpoints=failpoints or Failpoints(),
    )


def start_hosting(
    settings: WorkerSettings, *, pool: asyncpg.Pool, bus: Bus, failpoints: Failpoints | None = None
) -> HostedBots | None:
    if FlySettings().api_token is None or not settings.bot_api_url:
        log.warning(
            "hosting.disabled",
            detail="set FLY_API_TOKEN and HMMTRADE_BOT_API_URL to launch hosted bots; their events wait meanwhile",
        )
        return None
    http = httpx.AsyncClient(timeout=60)
    deps = build_hosting_deps(settings, pool=pool, bus=bus, http=http, failpoints=failpoints)
    puller = BatchPuller(bus, HOSTING, partial(hosting.handle_batch, deps=deps), batch_size=64)
    puller.start()
    return HostedBots(puller=puller, http=http)
