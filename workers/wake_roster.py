"""The scheduler's ``BotRoster`` in Postgres: running hosted bots that scale to zero, and their wakes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog
from pydantic import ValidationError

from store import wakes
from store.bots import BotRow
from workers.hosting import scales_to_zero
from workers.wake_schedule import DEFAULT_EXCHANGE
from workers.waker import SleepingBot

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PostgresRoster:
    pool: asyncpg.Pool
    exchange: str = DEFAULT_EXCHANGE  # profiles name no exchange yet: every stock bot follows this one

    async def sleeping_bots(self) -> Sequence[SleepingBot]:
        candidates = await wakes.running_hosted_bots(self.pool)
        return [
            SleepingBot(bot_id=str(c.bot.id), since=c.bot.created_at, exchange=self.exchange, last_close=c.last_close)
            for c in candidates
            if _sleeps(c.bot)
        ]

    async def record_wake(self, bot_id: str, session_close: datetime, wake_id: str, woken_at: datetime) -> None:
        await wakes.record_wake(
            self.pool, uuid.UUID(bot_id), session_close=session_close, wake_id=wake_id, woken_at=woken_at
        )


def _sleeps(bot: BotRow) -> bool:
    try:
        return scales_to_zero(bot)
    except ValidationError as exc:  # the API validated it; a bad row must not stop every other bot's wake
        log.warning("wake.bad_profile", bot_id=str(bot.id), error=str(exc.errors()[:1]))
        return False
