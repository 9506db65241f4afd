"""Browser sessions: an opaque cookie in the browser, the API's tokens on the server.

The cookie holds only a random session id (HttpOnly, SameSite=Lax, Secure over TLS). The
access and refresh tokens stay in this process's memory, so page scripts, extensions and
logs never see them. A session ends at logout, after ``idle_s`` without a request, or
``absolute_s`` after login, whichever comes first; whoever holds a page of an ended session
is told (``on_end``) and stops receiving data.

Pages are Bokeh documents whose connection token is embedded in the page, readable by its
scripts. So the token never carries the session id: a page gets a *ticket*, one-time and
short-lived, redeemed while the page is built (see :mod:`web.server`).

Time is a parameter for tests.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "hmm_session"
TICKET_TTL_S = 60.0


@dataclass
class WebSession:
    """One logged-in browser: who it is and the API tokens it acts with."""

    sid: str
    user_id: str
    email: str
    access_token: str
    refresh_token: str
    created_at: float
    last_seen: float
    ended: bool = False
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _on_end: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def with_tokens(self, access: str, refresh: str) -> None:
        self.access_token, self.refresh_token = access, refresh

    def on_end(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the session ends; returns the function that cancels that."""
        self._on_end.append(callback)
        return lambda: self._on_end.remove(callback) if callback in self._on_end else None

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for callback in list(self._on_end):
            callback()
        self._on_end.clear()


class SessionStore:
    def __init__(
        self,
        *,
        idle_s: float = 12 * 3600,
        absolute_s: float = 7 * 86400,
        max_sessions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s, self.absolute_s, self.max_sessions = idle_s, absolute_s, max_sessions
        self._clock = clock
        self._sessions: dict[str, WebSession] = {}
        self._tickets: dict[str, tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, *, user_id: str, email: str, access_token: str, refresh_token: str) -> WebSession:
        self.sweep()
        if len(self._sessions) >= self.max_sessions:  # the oldest login makes room (memory stays bounded)
            oldest = min(self._sessions.values(), key=lambda s: s.created_at)
            self.end(oldest.sid)
        now = self._clock()
        session = WebSession(secrets.token_urlsafe(32), user_id, email, access_token, refresh_token, now, now)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> WebSession | None:
        """The live session behind a cookie value (its idle time restarts), or None."""
        session = self._sessions.get(sid or "")
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self.idle_s or now - session.created_at > self.absolute_s:
            self.end(session.sid)
            return None
        session.last_seen = now
        return session

    def alive(self, session: WebSession) -> bool:
        return self.get(session.sid) is session

    def end(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.end()

    def end_user(self, user_id: str) -> None:
        """End every session of a user (the API signed them all out)."""
        for session in [s for s in self._sessions.values() if s.user_id == user_id]:
            self.end(session.sid)

    def ticket(self, sid: str) -> str:
        """A one-time name for session ``sid``, valid ``TICKET_TTL_S``, to hand to a page being built."""
        now = self._clock()
        self._tickets = {t: v for t, v in self._tickets.items() if v[1] > now}
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (sid, now + TICKET_TTL_S)
        return ticket

    def redeem(self, ticket: str | None) -> WebSession | None:
        """The session a ticket names, once; a second redemption or an expired ticket gives None."""
        entry = self._tickets.pop(ticket or "", None)
        if entry is None or entry[1] <= self._clock():
            return None
        return self.get(entry[0])

    def sweep(self) -> None:
        now = self._clock()
        for session in list(self._sessions.values()):
            if now - session.last_seen > self.idle_s or now - session.created_at > self.absolute_s:
                self.end(session.sid)
