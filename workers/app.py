"""Wiring: the consumers and the worker process's lifetime.

``audit-ingest`` is a FastStream batch subscriber; the notifier (``workers.notifier``) has
two intake consumers and a delivery loop. ``lifecycle`` runs on
``events.pull.BatchPuller`` (nats-py's fetch) because FastStream's batch loop either
polls constantly or adds its window to every intent's latency (see that module).
Handlers stay thin: raw messages in, settled (ack / nak with backoff / dead letter) by
``events.consume.settle``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from functools import partial

import asyncpg
import structlog
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.security import NatsCredentials, NatsSecurity

from billing.settings import StripeSettings
from billing.stripe_gateway import StripeClientGateway
from events.auth.keys import BusKeys
from events.bus import Bus, connect_options, server_urls
from events.dlq import watch_max_deliveries
from events.natsfix import install_fetch_timeout_fix
from events.pull import BatchPuller
from events.topology import (
    AUDIT_INGEST,
    BILLING,
    BILLING_STRIPE,
    BOTS,
    BROKERS,
    CREDITS,
    LIFECYCLE,
    NOTIFY_AUDIT,
    NOTIFY_EVENTS,
    TOPOLOGY_TIMEOUT_S,
    ensure_topology,
)
from store.pool import create_pool
from workers import audit_ingest, brokers, lifecycle
from workers.billing import BillingRuntime, start_billing
from workers.billing_deps import BillingDeps, Clock
from workers.bus_revoker import BusRevoker
from workers.failpoints import Failpoints
from workers.hosting_app import HostedBots, start_hosting
from workers.incidents_app import IncidentWorkers, start_incident_workers
from workers.lease import Fence, Singleton, consumer_job, replica_id
from workers.lifecycle_batch import handle_batch
from workers.metrics_endpoint import WorkerMetrics
from workers.notifier import NotifierRuntime, start_notifier
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)
POOL_CLOSE_S = 10.0


def build_broker(settings: WorkerSettings, audit_deps: audit_ingest.AuditDeps) -> NatsBroker:
    options = connect_options(settings.nats_creds, settings.nats_ca)
    # The pull subscription's inbox must sit under the workers' private one (FastStream
    # passes its own default per subscriber otherwise, which the bus refuses).
    inbox = f"{options.get('inbox_prefix', '_INBOX')}.".encode()
    security: NatsSecurity | None = None
    if "user_credentials" in options:
        security = NatsCredentials(options["user_credentials"], ssl_context=options.get("tls"))
    elif "tls" in options:
        security = NatsSecurity(ssl_context=options["tls"])
    broker = NatsBroker(
        server_urls(settings.nats_url),
        security=security,
        inbox_prefix=options.get("inbox_prefix", "_INBOX"),
        name="hmmtrade-workers",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        # FastStream logs every message at INFO; we log one canonical line per message ourselves.
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
    )

    @broker.subscriber(
        AUDIT_INGEST.filter_subject,
        stream=JStream(BOTS.name, declare=False),
        durable=AUDIT_INGEST.durable,
        pull_sub=PullSub(batch_size=500, timeout=0.5, batch=True),
        ack_policy=AckPolicy.MANUAL,
        inbox_prefix=inbox,
        title="audit-ingest",
        description="Stores bots' audit records in Postgres, once per (bot, seq).",
    )
    async def on_audit(message: NatsMessage) -> None:
        structlog.contextvars.clear_contextvars()
        await audit_ingest.ingest(list(message.raw_message), audit_deps)  # type: ignore[call-overload]

    return broker


@dataclass
class WorkerRuntime:
    """A started set of consumers; ``stop`` drains them."""

    broker: NatsBroker
    lifecycle: Singleton
    bus: Bus
    pool: asyncpg.Pool
    brokers: BatchPuller | None = None
    hosting: HostedBots | None = None
    billing: BillingRuntime | None = None
    revoker: BusRevoker | None = None
    notifier: NotifierRuntime | None = None
    metrics: WorkerMetrics | None = None
    incidents: IncidentWorkers | None = None

    async def stop(self) -> None:
        if self.incidents is not None:
            await self.incidents.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.revoker is not None:
            await self.revoker.stop()
        if self.billing is not None:
            await self.billing.stop()
        await self.lifecycle.stop()
        if self.brokers is not None:
            await self.brokers.stop()
        if self.hosting is not None:
            await self.hosting.stop()
        await self.broker.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        await self.bus.close()
        try:  # close waits for every connection to be released: bounded, so a stuck one cannot hold the exit
            await asyncio.wait_for(self.pool.close(), POOL_CLOSE_S)
        except TimeoutError:
            log.warning("workers.pool_close_timeout", waited_s=POOL_CLOSE_S)
            self.pool.terminate()


async def start_workers(
    settings: WorkerSettings,
    *,
    failpoints: Failpoints | None = None,
    stripe: StripeSettings | None = None,
    clock: Clock | None = None,
) -> WorkerRuntime:
    install_fetch_timeout_fix()
    bus = Bus(settings.nats_url, name="hmmtrade-workers-publisher", creds=settings.nats_creds, ca_file=settings.nats_ca)
    await bus.start(wait_s=30)
    await bus.wait_connected(30)
    await ensure_topology(
        bus.client.jetstream(timeout=TOPOLOGY_TIMEOUT_S),
        ack_wait_s=settings.ack_wait_s,
        replicas=settings.bus_replicas,
        lease_ttl_s=settings.lease_ttl_s,
    )
    metrics = WorkerMetrics.activate(settings, bus)  # before any consumer task starts: they inherit it
    await watch_max_deliveries(bus)
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    failpoints = failpoints or Failpoints.from_env()
    holder = replica_id()
    lifecycle_deps = lifecycle.LifecycleDeps(pool=pool, bus=bus, failpoints=failpoints, ack_wait_s=settings.ack_wait_s)

    def lifecycle_puller(fence: Fence) -> BatchPuller:  # one replica projects at a time: each bot's order holds
        return BatchPuller(bus, LIFECYCLE, partial(handle_batch, deps=replace(lifecycle_deps, fence=fence)))

    projector = Singleton(bus, pool, LIFECYCLE.durable, consumer_job(bus, LIFECYCLE, lifecycle_puller), holder=holder)
    broker = build_broker(settings, audit_ingest.AuditDeps(pool=pool, bus=bus))
    await broker.start()
    projector.start()
    broker_puller = BatchPuller(
        bus, BROKERS, partial(brokers.handle_batch, deps=brokers.BrokerDeps(pool=pool, bus=bus))
    )
    broker_puller.start()
    notifier = start_notifier(settings, pool=pool, bus=bus, failpoints=failpoints)
    hosted = start_hosting(settings, pool=pool, bus=bus, failpoints=failpoints, clock=clock, holder=holder)
    stripe_settings = stripe or StripeSettings()
    billing_deps = BillingDeps(
        pool=pool, bus=bus, gateway=StripeClientGateway(stripe_settings), stripe=stripe_settings, failpoints=failpoints
    )
    billing = start_billing(billing_deps if clock is None else replace(billing_deps, clock=clock))
    incident_workers = start_incident_workers(
        settings,
        pool=pool,
        bus=bus,
        gateway=billing_deps.gateway,
        stripe_settings=stripe_settings,
        holder=holder,
        failpoints=failpoints,
    )
    revoker = None
    if settings.bus_key_file is not None:
        revoker = BusRevoker(pool, BusKeys.load(settings.bus_key_file), settings.nats_url, ca_file=settings.nats_ca)
        revoker.start()
    else:
        log.warning(
            "workers.no_bus_revoker",
            why="HMMTRADE_BUS_KEY_FILE is not set: stopped bots' bus credentials live until they expire",
        )
    consumers = [
        LIFECYCLE.durable,
        AUDIT_INGEST.durable,
        BROKERS.durable,
        BILLING_STRIPE.durable,
        BILLING.durable,
        NOTIFY_AUDIT.durable,
        NOTIFY_EVENTS.durable,
        CREDITS.durable,
    ]
    await metrics.listen()
    log.info("workers.started", consumers=consumers + (["hosting"] if hosted else []))
    return WorkerRuntime(
        broker=broker,
        lifecycle=projector,
        bus=bus,
        pool=pool,
        brokers=broker_puller,
        hosting=hosted,
        billing=billing,
        revoker=revoker,
        notifier=notifier,
        metrics=metrics,
        incidents=incident_workers,
    )


async def run_workers(settings: WorkerSettings, stop: asyncio.Event) -> None:
    runtime = await start_workers(settings)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        log.info("workers.stopped")
