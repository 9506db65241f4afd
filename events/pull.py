"""A batch pull loop for consumers that want every available message at once.

FastStream 0.7.8's batch subscriber keeps pulling until its window closes: a short
window polls the server constantly when idle (13% CPU at 5 ms), a long one adds its
length to every message's latency. nats-py's ``fetch`` already returns as soon as some
messages are there, so this loop waits long when idle (one lingering pull per
``idle_wait_s``) and hands over whatever arrived without further delay.

While the database is unreachable (``events.outage``) the loop stops pulling and holds the
batch in hand until the handler gets through (``events.hold``): a Postgres restart costs the
intents waiting time, not deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError

from events.bus import Bus
from events.hold import hold_for_database
from events.outage import is_database_down
from events.topology import ConsumerSpec

log = structlog.get_logger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]


class BatchPuller:
    def __init__(
        self,
        bus: Bus,
        consumer: ConsumerSpec,
        handler: BatchHandler,
        *,
        batch_size: int = 256,
        idle_wait_s: float = 5.0,
    ) -> None:
        self._bus = bus
        self._consumer = consumer
        self._handler = handler
        self._batch_size = batch_size
        self._idle_wait_s = idle_wait_s
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a batch is being handled: stop lets it finish instead of cancelling it mid-transaction
        self._stopping = False
        self._ack_wait_s = consumer.ack_wait_s  # replaced by the server's value once bound

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pull-{self._consumer.durable}")

    async def stop(self, drain_s: float = 10.0) -> None:
        """Stop pulling; a batch in hand is finished first (for at most ``drain_s``).

        Cancelling a handler inside a database transaction left its pooled connection to be reset
        while the pool was closing, which could keep the shutdown waiting.
        """
        task = self._task
        if task is None:
            return
        self._stopping = True
        if not self._busy:
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=drain_s)
        if not done:
            log.warning("pull.drain_timeout", consumer=self._consumer.durable, waited_s=drain_s)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        subscription = await self._bus.js.pull_subscribe_bind(self._consumer.durable, stream=self._consumer.stream)
        with contextlib.suppress(Exception):  # deployments (and tests) configure a shorter ack wait
            self._ack_wait_s = (await subscription.consumer_info()).config.ack_wait or self._ack_wait_s
        while not self._stopping:
            try:
                batch = await subscription.fetch(self._batch_size, timeout=self._idle_wait_s)
            except (NatsTimeoutError, TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - the bus is away (reconnecting, restarting): try again
                log.warning("pull.unavailable", consumer=self._consumer.durable, error=type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            self._busy = True
            try:
                await self._handler(batch)
            except Exception as exc:  # unacked messages are redelivered after ack_wait
                if is_database_down(exc):
                    await self._hold(batch, exc)
                else:
                    log.exception("pull.batch_failed", consumer=self._consumer.durable, size=len(batch))
            finally:
                self._busy = False

    async def _hold(self, batch: list[Msg], first_error: BaseException) -> None:
        await hold_for_database(
            batch,
            self._handler,
            consumer=self._consumer.durable,
            ack_wait_s=self._ack_wait_s,
            first_error=first_error,
            stopping=lambda: self._stopping,
        )
