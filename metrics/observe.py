"""One-line recorders for instrumentation sites: each writes to the active process's metrics, if any.

A site calls ``observe.intent_accepted(kind)`` or decorates a vendor call with
``@observe.vendor_call("kms", "encrypt")``; which registry that lands in is the caller's
process's (:mod:`metrics.scope`). Recording never raises into the caller's work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from metrics.scope import active
from metrics.vendor_tally import TALLY

P = ParamSpec("P")
R = TypeVar("R")


AsyncCall = Callable[P, Coroutine[Any, Any, R]]


def vendor_call(vendor: str, operation: str) -> Callable[[AsyncCall[P, R]], AsyncCall[P, R]]:
    """Decorate an async vendor call: its duration, and an error count by exception class when it raises."""

    def decorate(call: AsyncCall[P, R]) -> AsyncCall[P, R]:
        @functools.wraps(call)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            metrics = active()
            if metrics is None or metrics.vendors is None:
                return await _tallied(vendor, call(*args, **kwargs))
            started = time.perf_counter()
            try:
                return await _tallied(vendor, call(*args, **kwargs))
            except Exception as exc:
                metrics.vendors.errors.labels(vendor, operation, type(exc).__name__).inc()
                raise
            finally:
                metrics.vendors.seconds.labels(vendor, operation).observe(time.perf_counter() - started)

        return timed

    return decorate


async def _tallied(vendor: str, call: Coroutine[Any, Any, R]) -> R:
    try:
        result = await call
    except Exception as exc:
        TALLY.record(vendor, exc)
        raise
    TALLY.record(vendor, None)
    return result


def intent_accepted(kind: str) -> None:
    metrics = active()
    if metrics is not None and metrics.api is not None:
        metrics.api.intents_accepted.labels(kind).inc()


def settlement(consumer: str, outcome: str, seconds: float, delivered: int) -> None:
    metrics = active()
    if metrics is not None and metrics.consumers is not None:
        metrics.consumers.observe_settlement(consumer, outcome, seconds, delivered)


def batch_settled(consumer: str, outcome: str, count: int, seconds: float) -> None:
    """``count`` deliveries of one batch settled alike (a batch path that acks without ``settle``)."""
    metrics = active()
    if metrics is not None and metrics.consumers is not None and count:
        metrics.consumers.messages.labels(consumer, outcome).inc(count)
        for _ in range(count):
            metrics.consumers.handle_seconds.labels(consumer).observe(seconds)


def ledger_replay(consumer: str) -> None:
    metrics = active()
    if metrics is not None and metrics.consumers is not None:
        metrics.consumers.ledger_replays.labels(consumer).inc()


def audit_stored(records: Iterable[tuple[str, float]]) -> None:
    """(bot id, unix time the bot wrote the record) for each audit record just stored."""
    metrics = active()
    if metrics is None or metrics.consumers is None:
        return
    now = time.time()
    newest: dict[str, float] = {}
    for bot_id, written_at in records:
        metrics.consumers.audit_lag_seconds.observe(max(0.0, now - written_at))
        newest[bot_id] = max(written_at, newest.get(bot_id, 0.0))
    for bot_id, written_at in newest.items():
        metrics.consumers.last_audit.labels(bot_id).set(written_at)


def bot_bar(seconds: float, record: Mapping[str, Any] | None) -> None:
    """One bar through the engine: its time, and when it decided, the tick and its orders' outcomes."""
    metrics = active()
    if metrics is None or metrics.bot is None:
        return
    bot = metrics.bot
    bot.bars.inc()
    bot.decision_seconds.observe(seconds)
    if record is None:
        return
    bot.ticks.inc()
    bot.last_tick.set_to_current_time()
    for execution in record.get("executions") or ():
        bot.orders.labels(str(execution.get("status", "unknown"))).inc()


def bot_outbox(pending_bytes: Callable[[], int]) -> None:
    """The bot's audit outbox, read at every scrape: audit written and not yet on the bus."""
    metrics = active()
    if metrics is not None and metrics.bot is not None:
        metrics.bot.watch_outbox(pending_bytes)


def singleton_held(name: str, held: bool) -> None:
    """A lease taken (``held``) or let go by this replica."""
    metrics = active()
    if metrics is not None and metrics.consumers is not None:
        metrics.consumers.singleton_held.labels(name).set(1 if held else 0)
        if held:
            metrics.consumers.singleton_tenures.labels(name).inc()
