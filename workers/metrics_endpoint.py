"""The workers' ``/metrics``: their registry, activated for every consumer, behind a small listener.

Consumer lag and the DLQ's size are read from JetStream at scrape time (consumer and stream
info), so a scrape shows the bus as it is now. Every replica reports the same shared
consumers: dashboards and alerts take the ``max`` over replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from events.bus import Bus
from events.topology import CONSUMERS, DLQ
from metrics.exposition import MetricsListener
from metrics.scope import ProcessMetrics, activate
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)


@dataclass
class WorkerMetrics:
    process: ProcessMetrics
    listener: MetricsListener | None

    @classmethod
    async def start(cls, settings: WorkerSettings, bus: Bus) -> WorkerMetrics:
        """Activate the workers' metrics for the tasks started after this, and listen if a port is set."""
        process = ProcessMetrics.for_workers()
        activate(process)
        listener = None
        if settings.metrics_port is not None:
            token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
            listener = MetricsListener(
                process.registry,
                host=settings.metrics_host,
                port=settings.metrics_port,
                token=token,
                refresh=lambda: sample_bus(process, bus),
            )
            await listener.start()
        return cls(process, listener)

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()


async def sample_bus(process: ProcessMetrics, bus: Bus) -> None:
    """Consumer lag (num_pending, num_ack_pending) of every durable consumer, and the DLQ's size."""
    consumers = process.consumers
    if consumers is None or not bus.is_connected:
        return
    for spec in CONSUMERS:
        try:
            info = await bus.js.consumer_info(spec.stream, spec.durable, timeout=1.0)
        except Exception as exc:  # noqa: BLE001 - a consumer not created yet (optional ones) is no error
            log.debug("metrics.consumer_unreadable", consumer=spec.durable, error=str(exc))
            continue
        consumers.pending.labels(spec.durable).set(info.num_pending or 0)
        consumers.ack_pending.labels(spec.durable).set(info.num_ack_pending or 0)
    stream = await bus.js.stream_info(DLQ.name)
    consumers.dlq_messages.set(stream.state.messages)
