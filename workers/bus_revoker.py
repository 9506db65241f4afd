"""Revoke on the bus what was revoked in Postgres: hosted bots' bus credentials.

A stop, delete or relaunch revokes the bot's machine tokens in the same transaction as
the status change; the bus credentials fetched with those tokens must follow. This loop
sweeps ``machine_tokens`` for revoked rows whose credentials went out and are not yet
revoked on the bus, pushes one account update for the batch (``events.auth.revoke``),
then marks them. A crash or a bus outage between the two only repeats the push, which
is idempotent; nothing is lost because the rows are the to-do list.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.client import RawCredentials

from events.aio import wait_event
from events.auth.keys import BusKeys
from events.auth.revoke import RevocationFailed, revoke_users
from events.bus import connect
from store import machine_tokens

log = structlog.get_logger(__name__)


@dataclass
class BusRevoker:
    pool: asyncpg.Pool
    keys: BusKeys
    nats_url: str
    ca_file: Path | None = None
    interval_s: float = 0.5
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _system: NatsClient | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bus-revoker")

    def nudge(self) -> None:
        """Sweep now rather than at the next interval (a stop was just committed)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._system is not None and not self._system.is_closed:
            await self._system.close()

    async def _connect(self) -> NatsClient:
        if self._system is None:
            # The system user's credentials are minted here from the keys and stay in memory.
            creds = RawCredentials(self.keys.system_creds())
            self._system = await connect(self.nats_url, name="hmmtrade-bus-revoker", creds=creds, ca_file=self.ca_file)
        return self._system

    async def sweep(self) -> int:
        """Revoke every due credential; returns how many."""
        due = await machine_tokens.bus_revocations_due(self.pool)
        if not due:
            return 0
        system = await self._connect()
        await revoke_users(system, self.keys, [self.keys.bot_user_key(bot_id, str(jti)) for bot_id, jti in due])
        await machine_tokens.mark_bus_revoked(self.pool, [jti for _, jti in due])
        log.info("bus.credentials_revoked", count=len(due))
        return len(due)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except (RevocationFailed, OSError, TimeoutError, asyncpg.PostgresError) as exc:
                log.warning("bus.revoke_failed", error=str(exc) or type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - keep sweeping; the rows stay due
                log.error("bus.revoke_failed", error=f"{type(exc).__name__}: {exc}")
            await wait_event(self._wake, self.interval_s)
            self._wake.clear()
