"""Singletons by lease: a job that must run on one worker replica at a time, with failover.

The lease is a key in the JetStream KV bucket ``leases`` (``events.topology.LEASE_BUCKET``), so it
lives in the same replicated store as everything else and needs no clock agreement: the bucket's
max age is the lease's TTL, the server drops a key its holder stopped renewing, and ``create``
succeeds for exactly one contender. The key's revision at creation is the tenure's **fencing
token** (revisions only grow): the new holder records it in Postgres (``store.fences.take``)
before its job starts, and the job's side effects check it in their own transactions
(:meth:`Fence.check`), so a replica that lost its lease while paused cannot write after its
successor began.

A holder renews every third of the TTL. A renewal refused by the server (someone else holds the
key) ends the tenure at once; a renewal that cannot reach the bus is retried until the TTL since
the last good one is nearly gone, then the job is stopped all the same: by then a successor may
hold the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from events.bus import Bus
from events.pull import BatchPuller
from events.topology import LEASE_BUCKET, LEASE_TTL_S, ConsumerSpec
from metrics import observe
from store import fences
from store.fences import FenceLost

log = structlog.get_logger(__name__)

__all__ = ["Fence", "FenceLost", "KvLease", "Singleton", "consumer_job", "replica_id"]


def _bucket_epoch(created: datetime | None) -> int:
    """Microseconds since 1970 of the bucket's creation: a new bucket's tokens outrank the old one's."""
    return int(created.timestamp() * 1_000_000) if created is not None else 0


def replica_id() -> str:
    """Who holds a lease, in words an operator can trace: host, pid and a per-process nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Fence:
    """One tenure of a singleton: what its side effects check before they write."""

    name: str
    token: int
    epoch: int = 0  # the lease bucket's creation time: revisions restart with a new bucket
    lost: asyncio.Event = field(default_factory=asyncio.Event, compare=False)  # a check failed: the job ends

    async def check(self, conn: Any) -> None:
        """Inside the side effect's transaction: :class:`FenceLost` if a newer holder has begun."""
        try:
            await fences.check(conn, self.name, self.epoch, self.token)
        except FenceLost:
            self.lost.set()
            raise


class KvLease:
    """The lease ``name`` in the KV bucket, as seen by ``holder``."""

    def __init__(self, kv: KeyValue, name: str, holder: str) -> None:
        self._kv = kv
        self.name = name
        self.holder = holder
        self._revision: int | None = None
        self.token: int | None = None

    def _value(self) -> bytes:
        return json.dumps({"holder": self.holder, "token": self.token}).encode()

    async def try_acquire(self) -> int | None:
        """This tenure's fencing token, or None while someone else holds the lease."""
        try:
            revision = await self._kv.create(self.name, self._value())
        except KeyWrongLastSequenceError:
            return None
        self._revision = self.token = revision
        return self.token

    async def renew(self) -> None:
        """Extend the lease; ``KeyWrongLastSequenceError`` when it is no longer ours."""
        self._revision = await self._kv.update(self.name, self._value(), last=self._revision)

    async def release(self) -> None:
        """Let a standby take over now rather than after the TTL (best effort)."""
        if self._revision is not None:
            with contextlib.suppress(Exception):
                await self._kv.delete(self.name, last=self._revision)
        self._revision = self.token = None


Job = Callable[[Fence], Coroutine[Any, Any, None]]


class Singleton:
    """Runs ``job`` on whichever replica holds the lease ``name``; the others stand by (looking
    every ``poll_s``) and take over within the TTL once the holder dies, at once if it lets go.
    ``job`` runs until it returns, raises, or is cancelled (lease lost, shutdown)."""

    def __init__(
        self,
        bus: Bus,
        pool: asyncpg.Pool,
        name: str,
        job: Job,
        *,
        holder: str | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self._bus = bus
        self._pool = pool
        self.name = name
        self._job = job
        self.holder = holder or replica_id()
        self._ttl_s = LEASE_TTL_S  # the bucket's own, read when the first lease is tried
        self._epoch = 0
        self._poll_s = poll_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._kv: KeyValue | None = None  # the bucket, its TTL and epoch: read once, again after a failure
        self.fence: Fence | None = None  # set while this replica holds the lease
        self.tenures = 0  # tenures begun here (tests and metrics)

    @property
    def held(self) -> bool:
        return self.fence is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"singleton-{self.name}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        while not self._stop.is_set():
            lease: KvLease | None = None
            try:
                kv = await self._bucket()
                lease = KvLease(kv, self.name, self.holder)
                token = await lease.try_acquire()
                if token is not None:
                    await self._read_epoch(kv)
            except Exception as exc:  # noqa: BLE001 - the bus may be away: keep standing by
                log.info("lease.unavailable", lease=self.name, error=f"{type(exc).__name__}: {exc}")
                self._kv = None
                token = None
                if lease is not None:
                    await lease.release()
            if token is None or lease is None:
                await self._pause(self._poll_s)
                continue
            failed = False
            try:
                await self._hold(lease, token)
            except Exception as exc:  # noqa: BLE001 - Postgres away at takeover: let go, try again later
                log.warning("lease.tenure_failed", lease=self.name, error=f"{type(exc).__name__}: {exc}")
                failed = True
            finally:
                await lease.release()
            if failed:
                await self._pause(self._poll_s)

    async def _bucket(self) -> KeyValue:
        """The lease bucket (looked up once: a standby polls with one request, not three)."""
        if self._kv is None:
            self._kv = await self._bus.js.key_value(LEASE_BUCKET)
        return self._kv

    async def _read_epoch(self, kv: KeyValue) -> None:
        """The bucket's TTL and creation time, read afresh for each tenure: a token is only
        comparable with the epoch of the bucket that issued it (the bus may have been rebuilt)."""
        status = await kv.status()
        self._ttl_s = status.ttl or LEASE_TTL_S
        self._epoch = _bucket_epoch(status.stream_info.created)

    async def _hold(self, lease: KvLease, token: int) -> None:
        async with self._pool.acquire() as conn:
            if not await fences.take(conn, self.name, self._epoch, token, self.holder):
                log.warning("lease.stale_token", lease=self.name, epoch=self._epoch, token=token)
                return
        self.fence = Fence(self.name, token, self._epoch)
        self.tenures += 1
        observe.singleton_held(self.name, True)
        log.info("lease.acquired", lease=self.name, token=token, holder=self.holder)
        job = asyncio.create_task(self._job(self.fence), name=f"{self.name}-job")
        renewed_at = time.monotonic()
        try:
            while not self._stop.is_set() and not job.done():
                await self._pause(self._ttl_s / 3, job)
                if self._stop.is_set() or job.done():
                    break
                try:
                    await lease.renew()
                    renewed_at = time.monotonic()
                except KeyWrongLastSequenceError:
                    log.warning("lease.lost", lease=self.name, token=token)
                    return
                except Exception as exc:  # noqa: BLE001 - the bus is briefly away (a node failed over)
                    if time.monotonic() - renewed_at > self._ttl_s * 0.8:
                        log.warning("lease.expiring", lease=self.name, token=token, error=str(exc))
                        return
        finally:
            self.fence = None
            observe.singleton_held(self.name, False)
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await job
                except FenceLost as exc:
                    log.warning("lease.fenced_out", lease=self.name, reason=str(exc))
                except Exception:  # the job's own failure: the next tenure starts it afresh
                    log.exception("lease.job_failed", lease=self.name)
            log.info("lease.released", lease=self.name, token=token)

    async def _pause(self, seconds: float, *also: asyncio.Future[Any]) -> None:
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({stopper, *also}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()


def consumer_job(bus: Bus, consumer: ConsumerSpec, start: Callable[[Fence], BatchPuller]) -> Job:
    """A singleton job that runs the puller ``start`` makes for its tenure, until the tenure ends
    or one of its writes finds the fence taken; the batch in hand is finished (or abandoned
    unacked, to be redelivered to the successor) before the next holder's ``take`` returns.

    A tenure that follows a crash first lets the dead holder's deliveries come back: JetStream
    hands a pull the messages never delivered before those whose ack wait has not run out yet,
    so pulling at once would project a bot's later intents before its earlier, orphaned ones.
    Once their ack wait has passed they are redelivered first, in stream order."""

    async def job(fence: Fence) -> None:
        await _after_orphans(bus, consumer)
        puller = start(fence)
        puller.start()
        try:
            await fence.lost.wait()
        finally:
            await puller.stop()

    return job


async def _after_orphans(bus: Bus, consumer: ConsumerSpec) -> None:
    info = await bus.js.consumer_info(consumer.stream, consumer.durable)
    if not info.num_ack_pending:
        return  # the last holder let go cleanly (or there was none)
    wait_s = (info.config.ack_wait or consumer.ack_wait_s) + ORPHAN_MARGIN_S
    log.info("lease.waiting_for_orphans", consumer=consumer.durable, unacked=info.num_ack_pending, wait_s=wait_s)
    await asyncio.sleep(wait_s)


ORPHAN_MARGIN_S = 0.5
