"""A bot process's families: bars, decision latency, order outcomes, audit not yet delivered."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BotMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.ticks = Counter(
            "hmmtrade_bot_ticks_total",
            "Decisions the bot made (one audit record and one tick each).",
            registry=registry,
        )
        self.bars = Counter("hmmtrade_bot_bars_total", "Bars the bot processed (warm-up included).", registry=registry)
        self.decision_seconds = Histogram(
            "hmmtrade_bot_decision_duration_seconds",
            "Time of the engine's work for one bar: features, filter, regime, target, risk, orders.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.orders = Counter(
            "hmmtrade_bot_orders_total",
            "Orders by what became of them (filled, accepted, rejected, not sent, skipped, ...).",
            ["outcome"],
            registry=registry,
        )
        self.last_tick = Gauge(
            "hmmtrade_bot_last_tick_timestamp_seconds", "Unix time of the bot's latest decision.", registry=registry
        )
        self.audit_pending = Gauge(
            "hmmtrade_bot_audit_pending_bytes",
            "Audit written by the bot and not yet delivered to the bus (its outbox).",
            registry=registry,
        )

    def watch_outbox(self, pending_bytes: Callable[[], int]) -> None:
        """Read the outbox's backlog at every scrape."""
        self.audit_pending.set_function(pending_bytes)
