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
    settings: WorkerSettings
    bus: Bus
    listener: MetricsListener | None = None

    @classmethod
    def activate(cls, settings: WorkerSettings, bus: Bus) -> WorkerMetrics:
        """Make these the metrics of the consumer tasks started after this call (they inherit the context)."""
        process = ProcessMetrics.for_workers()
        activate(process)
        return cls(process, settings, bus)

    async def listen(self) -> None:
        """Open the listener if a port is set (last, so a failed start leaves no socket open)."""
        if self.settings.metrics_port is None:
            return
        token = self.settings.metrics_token.get_secret_value() if self.settings.metrics_token else None
        self.listener = MetricsListener(
            self.process.registry,
            host=self.settings.metrics_host,
            port=self.settings.metrics_port,
            token=token,
            refresh=lambda: sample_bus(self.process, self.bus),
        )
        await self.listener.start()

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
