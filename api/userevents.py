"""Each API replica hears about changed user rows at once: Postgres LISTEN/NOTIFY.

A trigger on ``users`` (migration 0010) announces the id of every row whose cached fields
changed, on ``user_changed``, whatever made the change: the billing worker after a payment,
``hmmtrade users set-tier``, a session burn on another replica, an operator's SQL. This
listener holds one connection of its own (LISTEN needs a session; the pool's connections are
shared and reset) and drops the announced rows from ``UserCache``.

Postgres keeps no notices for a listener that is away, so after every (re)connection the whole
cache is cleared. While disconnected the cache's TTL bounds staleness, as before this existed.
A connection that died without closing its socket is found by a ``SELECT 1`` every
``health_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import structlog

from api.usercache import UserCache

log = structlog.get_logger(__name__)

CHANNEL = "user_changed"
APPLICATION_NAME = "hmmtrade-api-user-events"  # how an operator (or a test) finds the connection


class UserChangeListener:
    def __init__(
        self,
        dsn: str,
        cache: UserCache,
        *,
        health_interval_s: float = 5.0,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._cache = cache
        self._health_interval_s = health_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while notices arrive; tests and diagnostics wait on it

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="user-change-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            user_id = uuid.UUID(str(payload))
        except ValueError:
            log.warning("api.user_event_unreadable", payload=str(payload)[:80])
            return
        self._cache.forget(user_id)

    async def _run(self) -> None:
        delay = self._retry_initial_s
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": APPLICATION_NAME}
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.info("api.user_events_unavailable", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            delay = self._retry_initial_s
            try:
                await self._listen(conn)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("api.user_events_lost", error=str(exc))
            finally:
                self.listening.clear()
                if not conn.is_closed():
                    conn.terminate()

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, self._on_notice)
        self._cache.clear()  # whatever changed while no one listened
        self.listening.set()
        log.info("api.user_events_listening")
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._health_interval_s)
                break
            await conn.fetchval("SELECT 1", timeout=2)
        log.warning("api.user_events_lost", error="the database closed the connection")
