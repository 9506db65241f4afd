"""The delivery loop, shared by the hosted notifier (Postgres ledger) and the agent (SQLite).

Each round claims due (notification, channel) rows from a :class:`Ledger`, sends them all
concurrently (each bounded by the adapters' timeouts), and records each outcome:

- sent: marked ``sent``; never sent again;
- ``TargetUnavailable`` (or the channel can't be opened right now): attempt recorded with
  its error, retried after the next backoff delay; after the last delay, failed for good;
- ``TargetRejected``, or a channel that is gone or can't be decrypted: failed for good.

A crash between a send and its record leaves the row claimed; it is sent again once the
claim's lease runs out, with the same notification id (the receiver's dedupe key). That
window, one send long, is the only way a channel sees a notification twice.

Failing channels only ever hold their own rows: every row has its own schedule, and a
round waits at most one send timeout. Bots never wait for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from contracts.notify import Notification
from events.aio import wait_event
from notify._exceptions import DeliveryError, TargetRejected
from notify.port import Channel, Notifier

log = structlog.get_logger(__name__)

DEFAULT_RETRY_DELAYS_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Due:
    notification: Notification
    channel_id: uuid.UUID
    user_id: uuid.UUID | None
    attempts: int  # attempts already made


class ChannelGone(Exception):
    """The channel was deleted, or its secret can't be opened: its rows fail for good."""


class Ledger(Protocol):
    async def claim_due(self, limit: int) -> Sequence[Due]: ...

    async def mark_sent(self, notification_id: str, channel_id: uuid.UUID) -> None: ...

    async def mark_attempt_failed(
        self, notification_id: str, channel_id: uuid.UUID, *, error: str, retry_in_s: float | None
    ) -> None: ...


OpenChannel = Callable[[Due], Awaitable[Channel]]
"""The channel for a row, opened; raises ``ChannelGone`` (for good) or anything else (retry)."""

Hook = Callable[[str], Awaitable[None]]


async def _no_hook(name: str) -> None:
    return None


def retry_in(attempts_after_this: int, delays_s: Sequence[float]) -> float | None:
    """The wait before the next attempt, or None when every delay has been used: give up."""
    if attempts_after_this > len(delays_s):
        return None
    return delays_s[attempts_after_this - 1]


class DeliveryLoop:
    def __init__(
        self,
        ledger: Ledger,
        open_channel: OpenChannel,
        notifier: Notifier,
        *,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        batch: int = 50,
        poll_s: float = 1.0,
        failpoint: Hook = _no_hook,
    ) -> None:
        self._ledger, self._open, self._notifier = ledger, open_channel, notifier
        self._delays = tuple(retry_delays_s)
        self._batch, self._poll_s = batch, poll_s
        self._failpoint = failpoint
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New rows were queued: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notify-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception:  # a database hiccup: log it and look again later
                log.exception("notify.round_failed")
                handled = 0
            if handled < self._batch:
                await wait_event(self._wake, self._poll_s)
                self._wake.clear()

    async def run_once(self) -> int:
        """One round: claim what is due, deliver it all, record each outcome; returns how many."""
        due = await self._ledger.claim_due(self._batch)
        await asyncio.gather(*(self._deliver(row) for row in due))
        return len(due)

    async def _deliver(self, row: Due) -> None:
        note = row.notification
        context = {"notification_id": note.id, "channel_id": str(row.channel_id), "bot_id": str(note.bot_id)}
        try:
            channel = await self._open(row)
            await self._failpoint("notify.before_send")
            await self._notifier.send(note, channel)
        except (ChannelGone, TargetRejected) as exc:
            await self._ledger.mark_attempt_failed(note.id, row.channel_id, error=str(exc), retry_in_s=None)
            log.warning("notify.given_up", **context, attempt=row.attempts + 1, error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - DeliveryError or a dependency down: retry with backoff
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            wait = retry_in(row.attempts + 1, self._delays)
            await self._ledger.mark_attempt_failed(note.id, row.channel_id, error=error, retry_in_s=wait)
            log.warning("notify.retry" if wait is not None else "notify.given_up", **context,
                        attempt=row.attempts + 1, retry_in_s=wait, error=error)  # fmt: skip
            return
        await self._failpoint("notify.after_send")  # the one window where a crash means a second send
        await self._ledger.mark_sent(note.id, row.channel_id)
        log.info("notify.sent", **context, kind=note.kind, attempt=row.attempts + 1)
