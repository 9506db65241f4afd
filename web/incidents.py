"""Incidents as the web app reads them: the public history and each browser session's open ones.

Both answers are kept for ``max_age_s`` and fetched on demand, one request at a time: every open
status page shares one ``GET /api/v1/incidents`` per ``max_age_s`` for the whole web app, and
every page of one browser session shares one ``GET /api/v1/incidents/mine`` per ``max_age_s``
(the banner), however many tabs it has open. Nothing polls while no page asks, so there is no
background task to start or stop. A failed fetch counts as a poll too (a down API is not
hammered by the pages); the last good answer is kept beside the error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from web.api import ApiError, ApiUnreachable, UserApi, public_call
from web.sessions import WebSession

T = TypeVar("T")
HISTORY_DAYS = 90


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """The last good answer (None before the first), and the last poll's failure (None if it answered)."""

    value: T | None
    error: ApiError | None
    at: float


class Fresh(Generic[T]):
    """One value fetched at most once per ``max_age_s``; concurrent askers share the fetch."""

    def __init__(
        self, fetch: Callable[[], Awaitable[T]], *, max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self.snapshot: Snapshot[T] | None = None
        self.fetches = 0

    def _fresh(self) -> Snapshot[T] | None:
        snap = self.snapshot
        return snap if snap is not None and self._clock() - snap.at < self._max_age_s else None

    async def get(self) -> Snapshot[T]:
        if (snap := self._fresh()) is not None:
            return snap
        async with self._lock:
            if (snap := self._fresh()) is not None:
                return snap  # another page fetched while this one waited
            self.fetches += 1
            last = self.snapshot.value if self.snapshot is not None else None
            try:
                snap = Snapshot(await self._fetch(), None, self._clock())
            except ApiError as exc:
                snap = Snapshot(last, exc, self._clock())
            except ValueError as exc:  # not JSON: a proxy's error page, say
                snap = Snapshot(last, ApiUnreachable(f"unreadable answer: {exc}"), self._clock())
            self.snapshot = snap
            return snap


Incidents = list[dict[str, Any]]


class IncidentBoard:
    """The incident answers every page shares (one per web app; see the module docstring)."""

    def __init__(self, *, max_age_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._history: Fresh[Incidents] | None = None
        self._mine: dict[str, Fresh[Incidents]] = {}

    async def history(self, http: httpx.AsyncClient) -> Snapshot[Incidents]:
        """Open incidents first, then those of the last 90 days, newest first (public)."""
        if self._history is None:

            async def fetch() -> Incidents:
                response = await public_call(http, "GET", "/api/v1/incidents", params={"days": HISTORY_DAYS})
                return _incidents(response.json())

            self._history = Fresh(fetch, max_age_s=self._max_age_s, clock=self._clock)
        return await self._history.get()

    async def mine(self, session: WebSession, api: UserApi) -> Snapshot[Incidents]:
        """The open incidents affecting ``session``'s user, shared by all its pages."""
        fresh = self._mine.get(session.sid)
        if fresh is None:

            async def fetch() -> Incidents:
                return _incidents(await api.get("/api/v1/incidents/mine"))

            fresh = self._mine[session.sid] = Fresh(fetch, max_age_s=self._max_age_s, clock=self._clock)
            session.on_end(lambda: self._forget(session.sid))  # bounded by the live sessions
        return await fresh.get()

    def _forget(self, sid: str) -> None:
        self._mine.pop(sid, None)


def _incidents(body: object) -> Incidents:
    items = body.get("incidents") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ApiError("no incidents in the answer")
    return [i for i in items if isinstance(i, dict)]
