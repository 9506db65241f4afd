"""Wiring of the incident watch and the service-credit worker, each a singleton (one replica).

- incident-watch: ``incidents.watch.IncidentWatch`` over the workers' probes of the bus, the
  database, Fly (when hosting is set up) and Stripe.
- credits: consumes ``events.incident.*.closed`` and settles each incident's credits
  (``incidents.credits.settle``); a sweep every ``HMMTRADE_CREDIT_SWEEP_S`` (and at each tenure's
  start) settles closed incidents whose event was lost or whose credits wait on Stripe.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial

import asyncpg
import httpx
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from api.status import Probe, ProbeFailed, Verdict
from billing.gateway import StripeGateway, StripeRejected, StripeUnavailable
from billing.settings import EMULATOR_SECRET_KEY, StripeSettings
from contracts.incidents import IncidentEvent
from events.aio import wait_event
from events.bus import Bus
from events.consume import MalformedMessage, TransientError, settle
from events.failpoints import Failpoints
from events.pull import BatchPuller
from events.topology import CREDITS
from fly.probe import probe_fly
from fly.settings import FlySettings
from incidents.credits import CreditDeps
from incidents.credits import settle as settle_credits
from incidents.service import IncidentService
from incidents.watch import IncidentWatch
from notify.email import EmailTarget
from store import incidents
from workers.lease import Fence, Singleton, consumer_job
from workers.notifier import smtp_settings
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_S = 5.0


@dataclass
class IncidentWorkers:
    singletons: list[Singleton]
    http: httpx.AsyncClient
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self.stopping.set()
        for singleton in self.singletons:
            await singleton.stop()
        await self.http.aclose()


def worker_probes(
    bus: Bus, pool: asyncpg.Pool, gateway: StripeGateway, stripe_settings: StripeSettings, http: httpx.AsyncClient
) -> dict[str, Probe]:
    """The components this deployment uses: Stripe only when it is set up (a key of its own or the
    emulator's address: the built-in key would only ever be refused by Stripe), Fly only with hosting."""

    async def bus_probe() -> Verdict:
        if not await bus.ping(timeout_s=PROBE_TIMEOUT_S):
            raise ProbeFailed("the message bus does not answer")
        return Verdict("connected")

    async def database() -> Verdict:
        try:
            await pool.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # any failure: it cannot serve
            raise ProbeFailed(f"the database does not answer ({type(exc).__name__})") from exc
        return Verdict("answering")

    async def stripe() -> Verdict:
        try:
            await gateway.list_events(limit=1)
        except StripeUnavailable as exc:
            raise ProbeFailed("the payment provider does not answer") from exc
        except StripeRejected as exc:
            raise ProbeFailed("the payment provider refused our request") from exc
        return Verdict("answering")

    probes: dict[str, Probe] = {"bus": bus_probe, "database": database}
    if stripe_settings.api_base is not None or stripe_settings.secret_key.get_secret_value() != EMULATOR_SECRET_KEY:
        probes["stripe"] = stripe
    fly = FlySettings()
    if fly.api_token is not None:
        token = fly.api_token.get_secret_value()

        async def fly_probe() -> Verdict:
            return await probe_fly(
                http, hostname=fly.api_hostname, app=fly.app_name, token=token, timeout_s=PROBE_TIMEOUT_S
            )

        probes["fly"] = fly_probe
    return probes


def start_incident_workers(
    settings: WorkerSettings,
    *,
    pool: asyncpg.Pool,
    bus: Bus,
    gateway: StripeGateway,
    stripe_settings: StripeSettings,
    holder: str,
    failpoints: Failpoints,
) -> IncidentWorkers:
    http = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S)
    service = IncidentService(pool, bus)
    smtp = smtp_settings(settings)
    email = EmailTarget(smtp) if smtp is not None else None
    deps = CreditDeps(pool=pool, gateway=gateway, email=email, failpoints=failpoints)
    watch = IncidentWatch(
        service,
        worker_probes(bus, pool, gateway, stripe_settings, http),
        every_s=settings.incident_watch_s,
        open_after_s=settings.incident_open_after_s,
        close_after_s=settings.incident_close_after_s,
        probe_timeout_s=PROBE_TIMEOUT_S,
    )
    runtime = IncidentWorkers(singletons=[], http=http)

    async def watching(fence: Fence) -> None:
        await watch.run(runtime.stopping)

    def credit_puller(fence: Fence) -> BatchPuller:
        return BatchPuller(bus, CREDITS, partial(_settle_closed, deps=deps, bus=bus), batch_size=16)

    consume = consumer_job(bus, CREDITS, credit_puller)

    async def crediting(fence: Fence) -> None:
        sweeper = asyncio.create_task(_sweep(deps, every_s=settings.credit_sweep_s, stop=runtime.stopping))
        try:
            await consume(fence)
        finally:
            sweeper.cancel()

    runtime.singletons = [
        Singleton(bus, pool, "incident-watch", watching, holder=holder),
        Singleton(bus, pool, CREDITS.durable, crediting, holder=holder),
    ]
    for singleton in runtime.singletons:
        singleton.start()
    return runtime


async def _settle_closed(batch: list[Msg], *, deps: CreditDeps, bus: Bus) -> None:
    for msg in batch:
        await settle(msg, partial(_settle_one, deps=deps), bus=bus, consumer=CREDITS)


async def _settle_one(msg: Msg, *, deps: CreditDeps) -> None:
    try:
        event = IncidentEvent.model_validate_json(msg.data)
    except ValidationError as exc:
        raise MalformedMessage(str(exc.errors()[:3])) from exc
    settlement = await settle_credits(event.incident.id, deps)
    if not settlement.settled:
        raise TransientError(f"{settlement.pending} credits wait on Stripe or email")


async def _sweep(deps: CreditDeps, *, every_s: float, stop: asyncio.Event) -> None:
    """Settle what no event settled: a close whose publish was lost, credits Stripe refused for a while."""
    while not stop.is_set():
        try:
            for incident_id in await incidents.unsettled(deps.pool):
                await settle_credits(incident_id, deps)
        except Exception:  # Postgres or Stripe away: the next sweep goes on
            log.exception("credits.sweep_failed")
        await wait_event(stop, every_s)
