"""Holding deliveries through a database outage instead of spending them.

A consumer whose handler failed because Postgres is unreachable (``events.outage``) keeps
the deliveries it has in hand: it pulls nothing more, tells the server every third of the
ack wait that they are still being worked on (``in_progress``: no redelivery, no delivery
counted, so no replica is handed them meanwhile), and hands them to the handler again with
backoff until it gets through. Handlers are idempotent, so a retry after a commit whose
answer was lost with the connection does no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from nats.aio.msg import Msg

from events.outage import is_database_down

log = structlog.get_logger(__name__)

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0


async def hold_for_database(
    batch: list[Msg],
    handler: Callable[[list[Msg]], Awaitable[None]],
    *,
    consumer: str,
    ack_wait_s: float,
    first_error: BaseException,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Hand ``batch``'s unsettled deliveries to ``handler`` again until the database is back.

    Returns early if ``stopping()`` turns true (the deliveries are then redelivered after the ack
    wait, one delivery counted) or if the handler fails for another reason (logged; the handler's
    own policy settled what it could).
    """
    held = [msg for msg in batch if not msg.is_acked]
    started = time.monotonic()
    log.warning(
        "pull.holding_for_database",
        consumer=consumer,
        held=len(held),
        error=f"{type(first_error).__name__}: {first_error}",
    )
    delay = FIRST_RETRY_S
    async with kept_in_progress(lambda: held, ack_wait_s):
        while held:
            if not await _pause(delay, stopping):
                return
            try:
                await handler(held)
            except Exception as exc:
                if not is_database_down(exc):
                    log.exception("pull.batch_failed", consumer=consumer, size=len(held))
                    return
                held = [msg for msg in held if not msg.is_acked]
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            break
    log.info("pull.database_back", consumer=consumer, waited_s=round(time.monotonic() - started, 1))


async def _pause(wait_s: float, stopping: Callable[[], bool]) -> bool:
    """Sleep ``wait_s`` unless asked to stop first; False if stopping."""
    deadline = time.monotonic() + wait_s
    while not stopping():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, 0.25))
    return False


@contextlib.asynccontextmanager
async def kept_in_progress(held: Callable[[], list[Msg]], ack_wait_s: float) -> AsyncIterator[None]:
    """While inside: the unacked deliveries of ``held()`` are told in progress within each ack wait.

    For work on deliveries in hand that may take longer than the ack wait (a retry that waits on
    a connect timeout must not let the server redeliver meanwhile)."""
    heartbeat = asyncio.create_task(_keep_in_progress(held, ack_wait_s), name="in-progress")
    try:
        yield
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _keep_in_progress(held: Callable[[], list[Msg]], ack_wait_s: float) -> None:
    """In-progress acks well within the ack wait. A lost one (the bus is away as well) only
    risks a redelivery, which the handlers' idempotency absorbs."""
    beat_s = max(ack_wait_s / 3, 0.1)
    while True:
        await asyncio.gather(*(msg.in_progress() for msg in held() if not msg.is_acked), return_exceptions=True)
        await asyncio.sleep(beat_s)
