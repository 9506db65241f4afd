"""Turning a handler's result into ack / nak-with-delay / dead letter.

Exception hierarchy a handler may raise::

    Exception                  unexpected: retried with backoff until max_deliver, then DLQ
    ├── DependencyDown         the database is unreachable (see events.outage): left unsettled,
    │                          re-raised for the puller to hold; not a failed attempt
    ├── TransientError         retried with backoff until max_deliver, then DLQ
    └── PermanentError         straight to the DLQ, never retried
        └── MalformedMessage   the payload does not parse as its contract

FastStream's default (``REJECT_ON_ERROR``) would terminate on any exception with no
record; subscribers here use manual acks and call :func:`settle` instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog
from nats.aio.msg import Msg

from events.bus import Bus
from events.dlq import dead_letter_msg
from events.outage import DependencyDown, is_database_down
from events.topology import ConsumerSpec
from metrics import observe

log = structlog.get_logger(__name__)

Settlement = Literal["acked", "retrying", "dead_lettered"]


class TransientError(Exception):
    """Retrying later may succeed (a dependency is down, a projection is not there yet)."""


class PermanentError(Exception):
    """Retrying will never succeed."""


class MalformedMessage(PermanentError):
    """The payload is not a valid instance of the subject's contract."""


GiveUpHook = Callable[[Msg, str], Awaitable[None]]


async def settle(
    msg: Msg,
    handle: Callable[[Msg], Awaitable[None]],
    *,
    bus: Bus,
    consumer: ConsumerSpec,
    on_give_up: GiveUpHook | None = None,
) -> Settlement:
    """Run ``handle`` on one delivery and settle the delivery according to the outcome."""
    started = time.perf_counter()
    outcome = await _settle(msg, handle, bus=bus, consumer=consumer, on_give_up=on_give_up)
    observe.settlement(consumer.durable, outcome, time.perf_counter() - started, msg.metadata.num_delivered)
    return outcome


async def _settle(
    msg: Msg,
    handle: Callable[[Msg], Awaitable[None]],
    *,
    bus: Bus,
    consumer: ConsumerSpec,
    on_give_up: GiveUpHook | None,
) -> Settlement:
    delivered = msg.metadata.num_delivered
    started = time.perf_counter()
    try:
        await handle(msg)
    except PermanentError as exc:
        kind = "malformed message" if isinstance(exc, MalformedMessage) else "permanent failure"
        await _give_up(msg, f"{kind}: {exc}", bus=bus, consumer=consumer, on_give_up=on_give_up)
        return "dead_lettered"
    except Exception as exc:  # every other failure is retried, boundedly
        error = f"{type(exc).__name__}: {exc}"
        if is_database_down(exc):  # every message would fail alike: wait, don't spend deliveries
            raise DependencyDown(error) from exc
        if delivered >= consumer.max_deliver:
            reason = f"failed on all {delivered} deliveries; last error: {error}"
            await _give_up(msg, reason, bus=bus, consumer=consumer, on_give_up=on_give_up)
            return "dead_lettered"
        delay = consumer.retry_delay(delivered)
        log.warning(
            "message.retry",
            consumer=consumer.durable,
            subject=msg.subject,
            delivered=delivered,
            retry_in_s=delay,
            error=error,
        )
        await msg.nak(delay=delay)
        return "retrying"
    await msg.ack()
    log.debug(
        "message.acked",
        consumer=consumer.durable,
        subject=msg.subject,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return "acked"


async def _give_up(msg: Msg, reason: str, *, bus: Bus, consumer: ConsumerSpec, on_give_up: GiveUpHook | None) -> None:
    if on_give_up is not None:
        try:
            await on_give_up(msg, reason)
        except Exception as exc:  # noqa: BLE001 - the dead letter must still be written
            log.error("message.give_up_hook_failed", consumer=consumer.durable, error=str(exc))
    await dead_letter_msg(bus, msg, reason=reason, consumer=consumer.durable)
