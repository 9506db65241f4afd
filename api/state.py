"""What the API holds for its lifetime: the bus, the database pool, the token service, the
user cache and the listener that keeps it current.

The pool is opened lazily and retried, so the API starts (and answers /healthz and a
503 on everything else) while Postgres is still coming up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import structlog

from api.acceptlog import AcceptLog
from api.authlimits import AuthLimits
from api.backlog import IntentBacklog
from api.db_outage import DatabaseBreaker
from api.first_fits import FirstFits
from api.settings import ApiSettings
from api.tokens import TokenService
from api.usercache import UserCache
from api.userevents import UserChangeListener
from events.bus import Bus
from store.pool import create_pool

log = structlog.get_logger(__name__)


class DatabaseUnavailable(Exception):
    pass


@dataclass
class ApiState:
    settings: ApiSettings
    bus: Bus
    tokens: TokenService
    limits: AuthLimits
    users: UserCache = field(default_factory=UserCache)
    db_breaker: DatabaseBreaker = field(default_factory=DatabaseBreaker)
    accept_log: AcceptLog = field(init=False)
    user_events: UserChangeListener = field(init=False)
    backlog: IntentBacklog = field(init=False)
    first_fits: FirstFits = field(init=False)
    _pool: asyncpg.Pool | None = None
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.accept_log = AcceptLog(self.pool)
        self.user_events = UserChangeListener(self.settings.database_url, self.users)
        self.backlog = IntentBacklog(self.bus, limit=self.settings.intent_backlog_max)
        self.first_fits = FirstFits(preload=self.settings.fly_api_token is not None)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                try:
                    self._pool = await create_pool(self.settings.database_url, max_size=self.settings.db_pool_size)
                except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                    raise DatabaseUnavailable(str(exc)) from exc
        return self._pool

    async def close(self) -> None:
        await self.user_events.close()
        await self.accept_log.close()
        await self.bus.close()
        if self._pool is not None:
            await self._pool.close()
