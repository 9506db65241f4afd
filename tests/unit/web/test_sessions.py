"""Browser sessions: cookie ids map to server-held tokens; they end at logout, idle or age; tickets are one-time."""

from __future__ import annotations

from web.sessions import TICKET_TTL_S, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(clock: Clock, **kwargs: float) -> SessionStore:
    return SessionStore(clock=clock, **kwargs)


def login(sessions: SessionStore, user: str = "u1") -> str:
    return sessions.create(user_id=user, email=f"{user}@example.com", access_token="a", refresh_token="r").sid


def test_a_cookie_finds_its_session_and_a_guess_finds_nothing() -> None:
    sessions = store(Clock())
    sid = login(sessions)
    found = sessions.get(sid)
    assert found is not None and found.user_id == "u1" and found.access_token == "a"
    assert sessions.get(sid[:-1] + ("A" if sid[-1] != "A" else "B")) is None
    assert sessions.get(None) is None and sessions.get("") is None
    assert len(sid) >= 40  # 32 random bytes, url-safe


def test_idle_sessions_end_and_activity_keeps_them() -> None:
    clock = Clock()
    sessions = store(clock, idle_s=100, absolute_s=1000)
    sid = login(sessions)
    clock.now += 99
    assert sessions.get(sid) is not None  # seen: idle time restarts
    clock.now += 99
    assert sessions.get(sid) is not None
    clock.now += 100.5
    assert sessions.get(sid) is None
    assert sessions.get(sid) is None and len(sessions) == 0


def test_sessions_end_at_their_absolute_age_even_when_used() -> None:
    clock = Clock()
    sessions = store(clock, idle_s=100, absolute_s=250)
    sid = login(sessions)
    for _ in range(2):
        clock.now += 90
        assert sessions.get(sid) is not None
    clock.now += 90  # 270 s old
    assert sessions.get(sid) is None


def test_logout_ends_the_session_and_tells_its_pages_once() -> None:
    sessions = store(Clock())
    sid = login(sessions)
    session = sessions.get(sid)
    assert session is not None
    told: list[str] = []
    session.on_end(lambda: told.append("a"))
    cancel = session.on_end(lambda: told.append("b"))
    cancel()
    sessions.end(sid)
    sessions.end(sid)
    assert told == ["a"] and session.ended and sessions.get(sid) is None


def test_end_user_ends_every_session_of_that_user_only() -> None:
    sessions = store(Clock())
    a1, a2, b = login(sessions, "a"), login(sessions, "a"), login(sessions, "b")
    sessions.end_user("a")
    assert sessions.get(a1) is None and sessions.get(a2) is None and sessions.get(b) is not None


def test_a_ticket_is_redeemed_once_and_expires() -> None:
    clock = Clock()
    sessions = store(clock)
    sid = login(sessions)
    ticket = sessions.ticket(sid)
    assert ticket != sid
    redeemed = sessions.redeem(ticket)
    assert redeemed is not None and redeemed.sid == sid
    assert sessions.redeem(ticket) is None  # one-time
    late = sessions.ticket(sid)
    clock.now += TICKET_TTL_S
    assert sessions.redeem(late) is None
    assert sessions.redeem(None) is None and sessions.redeem("made-up") is None


def test_a_ticket_of_an_ended_session_gives_nothing() -> None:
    sessions = store(Clock())
    sid = login(sessions)
    ticket = sessions.ticket(sid)
    sessions.end(sid)
    assert sessions.redeem(ticket) is None


def test_the_store_stays_bounded_by_ending_the_oldest_login() -> None:
    clock = Clock()
    sessions = store(clock, max_sessions=2)
    first = login(sessions, "a")
    clock.now += 1
    second = login(sessions, "b")
    clock.now += 1
    third = login(sessions, "c")
    assert len(sessions) == 2
    assert sessions.get(first) is None and sessions.get(second) is not None and sessions.get(third) is not None
