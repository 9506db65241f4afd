"""Which process's metrics an instrumentation site writes to.

Vendor clients (KMS, Fly, Stripe) and ``events.consume.settle`` are shared by the API, the
workers and the bots, and tests run several of those in one interpreter. Rather than thread a
registry through every constructor, each process root *activates* its ``ProcessMetrics`` in a
context variable: the API's middleware per request, the workers and the bot once before they
start their tasks (asyncio tasks and ``asyncio.to_thread`` copy the context they start from).
A site with no active metrics records nothing.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector

from metrics.api import ApiMetrics
from metrics.bots import BotMetrics
from metrics.consumers import ConsumerMetrics
from metrics.vendors import VendorCalls


@dataclass(frozen=True)
class ProcessMetrics:
    """One process's registry and the metric families it records."""

    registry: CollectorRegistry
    api: ApiMetrics | None = None
    consumers: ConsumerMetrics | None = None
    vendors: VendorCalls | None = None
    bot: BotMetrics | None = None

    @staticmethod
    def _registry() -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(namespace="hmmtrade", registry=registry)  # CPU, memory, open files of this process
        return registry

    @classmethod
    def for_api(cls) -> ProcessMetrics:
        registry = cls._registry()
        return cls(registry, api=ApiMetrics(registry), vendors=VendorCalls(registry))

    @classmethod
    def for_workers(cls) -> ProcessMetrics:
        registry = cls._registry()
        return cls(registry, consumers=ConsumerMetrics(registry), vendors=VendorCalls(registry))

    @classmethod
    def for_bot(cls) -> ProcessMetrics:
        registry = cls._registry()
        return cls(registry, bot=BotMetrics(registry))

    @classmethod
    def bare(cls) -> ProcessMetrics:
        """Process metrics only; the caller registers its own collectors (the agent)."""
        return cls(cls._registry())


_active: ContextVar[ProcessMetrics | None] = ContextVar("hmmtrade_metrics", default=None)


def activate(metrics: ProcessMetrics) -> Token[ProcessMetrics | None]:
    """Make ``metrics`` the one this context (and the tasks it starts from now on) records to."""
    return _active.set(metrics)


def deactivate(token: Token[ProcessMetrics | None]) -> None:
    _active.reset(token)


def active() -> ProcessMetrics | None:
    return _active.get()
