"""Records accepted intents in Postgres in small groups, like a group commit.

Each request still waits until its row is written (so ``GET /intents/{id}`` right after
the 202 finds it), but concurrent requests share one multi-row INSERT: under load that
is one statement per group instead of one per request. One group is in flight at a time;
whatever arrives meanwhile forms the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from store import intents


@dataclass(frozen=True)
class AcceptedIntent:
    intent_id: str
    user_id: uuid.UUID
    kind: str
    bot_id: uuid.UUID | None


class AcceptLog:
    def __init__(self, pool: Callable[[], Awaitable[Any]], *, max_group: int = 500) -> None:
        self._pool = pool
        self._max_group = max_group
        self._pending: list[tuple[AcceptedIntent, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def record(self, intent: AcceptedIntent) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_groups(), name="accept-log")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((intent, done))
        self._wake.set()
        await done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _write_groups(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
                try:
                    pool = await self._pool()
                    await intents.record_accepted(pool, [intent for intent, _ in group])
                except Exception as exc:  # noqa: BLE001 - each waiting request decides what it means
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in group:
                        if not done.done():
                            done.set_result(None)
