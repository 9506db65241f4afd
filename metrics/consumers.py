"""The workers' families: messages settled per consumer, redeliveries, lag, the DLQ, ledger replays."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("acked", "retrying", "dead_lettered")  # events.consume.Settlement


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "hmmtrade_consumer_messages_total",
            "Deliveries a consumer settled, by outcome: acked, retrying (nak with backoff) or dead_lettered.",
            ["consumer", "outcome"],
            registry=registry,
        )
        self.handle_seconds = Histogram(
            "hmmtrade_consumer_handle_duration_seconds",
            "Time to handle and settle one delivery, by consumer.",
            ["consumer"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "hmmtrade_consumer_redeliveries_total",
            "Deliveries that were not the message's first (JetStream num_delivered > 1), by consumer.",
            ["consumer"],
            registry=registry,
        )
        self.pending = Gauge(
            "hmmtrade_consumer_pending_messages",
            "Consumer lag: messages stored and not yet delivered (num_pending), sampled from consumer info.",
            ["consumer"],
            registry=registry,
        )
        self.ack_pending = Gauge(
            "hmmtrade_consumer_ack_pending_messages",
            "Messages delivered and not yet acknowledged (num_ack_pending), sampled from consumer info.",
            ["consumer"],
            registry=registry,
        )
        self.dlq_messages = Gauge(
            "hmmtrade_dlq_messages",
            "Messages in the DLQ stream, sampled from stream info.",
            registry=registry,
        )
        self.singleton_held = Gauge(
            "hmmtrade_singleton_held",
            "1 while this replica holds the singleton's lease (workers.lease): its job runs here.",
            ["singleton"],
            registry=registry,
        )
        self.singleton_tenures = Counter(
            "hmmtrade_singleton_tenures_total",
            "Leases this replica acquired, by singleton (a takeover after a holder died counts here).",
            ["singleton"],
            registry=registry,
        )
        self.ledger_replays = Counter(
            "hmmtrade_ledger_replays_total",
            "Redeliveries answered from the idempotency ledger (the saved outcome re-published, nothing re-applied).",
            ["consumer"],
            registry=registry,
        )
        self.audit_lag_seconds = Histogram(
            "hmmtrade_bot_audit_lag_seconds",
            "From a bot writing an audit record to the workers storing it (buffered records show as lag).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
            registry=registry,
        )
        self.last_audit = Gauge(
            "hmmtrade_bot_last_audit_timestamp_seconds",
            "Unix time of the newest audit record stored for a bot (the 'bot silent' alert reads it).",
            ["bot_id"],
            registry=registry,
        )

    def observe_settlement(self, consumer: str, outcome: str, seconds: float, delivered: int) -> None:
        self.messages.labels(consumer, outcome).inc()
        self.handle_seconds.labels(consumer).observe(seconds)
        if delivered > 1:
            self.redeliveries.labels(consumer).inc()
