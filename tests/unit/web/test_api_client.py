"""The web app's API client: tokens refreshed once under the session's lock, errors in two kinds."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from web.api import ApiRejected, ApiUnreachable, SessionEnded, UserApi
from web.sessions import SessionStore


def session_of(store: SessionStore, access: str = "old", refresh: str = "r1"):  # type: ignore[no-untyped-def]
    return store.create(user_id="u", email="u@example.com", access_token=access, refresh_token=refresh)


class FakeApi:
    """An API that accepts only the current access token and rotates refresh tokens (a reuse is refused)."""

    def __init__(self) -> None:
        self.access, self.refresh = "old", "r1"
        self.refreshes = 0
        self.seen_forwarded: set[str] = set()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen_forwarded.add(request.headers.get("x-forwarded-for", ""))
        if request.url.path == "/api/v1/auth/refresh":
            await asyncio.sleep(0)  # let concurrent callers interleave
            if json.loads(request.content)["refresh_token"] != self.refresh:
                return httpx.Response(401, json={"detail": "reused"})
            self.refreshes += 1
            self.access, self.refresh = f"new{self.refreshes}", f"r{self.refreshes + 1}"
            return httpx.Response(200, json={"access_token": self.access, "refresh_token": self.refresh})
        if request.headers.get("authorization") != f"Bearer {self.access}":
            return httpx.Response(401, json={"detail": "expired"})
        if request.url.path == "/api/v1/bots":
            return httpx.Response(200, json={"bots": [{"id": "b1"}]})
        if request.url.path == "/api/v1/bots/validate":
            return httpx.Response(422, json={"detail": "bad", "errors": [{"field": "basics.name", "msg": "too short"}]})
        if request.url.path == "/api/v1/billing":
            return httpx.Response(503, json={"detail": "db down"})
        return httpx.Response(404, json={"title": "Not Found", "detail": "There is no bot with this id."})


def client(api: FakeApi) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://api", transport=httpx.MockTransport(api.handle))


async def test_an_expired_token_is_refreshed_once_even_for_many_pages_at_once() -> None:
    api, store = FakeApi(), SessionStore()
    api.access = "rotated-elsewhere"  # the session's access token no longer works
    api.refresh = "r1"
    session = session_of(store)
    async with client(api) as http:
        pages = [UserApi(http, session, client_ip="203.0.113.9") for _ in range(5)]
        results = await asyncio.gather(*(p.bots() for p in pages))
    assert all(r == [{"id": "b1"}] for r in results)
    assert api.refreshes == 1  # a second refresh would present a used token and sign everyone out
    assert session.access_token == "new1" and session.refresh_token == "r2" and not session.ended
    assert api.seen_forwarded == {"203.0.113.9"}  # the API rate-limits the browser, not the web server


async def test_a_refused_refresh_ends_the_session() -> None:
    api, store = FakeApi(), SessionStore()
    api.access, api.refresh = "x", "someone-else"
    session = session_of(store)
    ended: list[bool] = []
    session.on_end(lambda: ended.append(True))
    async with client(api) as http:
        with pytest.raises(SessionEnded):
            await UserApi(http, session).bots()
        with pytest.raises(SessionEnded):  # nothing more is sent for an ended session
            await UserApi(http, session).bots()
    assert session.ended and ended == [True]


async def test_errors_come_in_two_kinds_with_the_apis_words() -> None:
    api, store = FakeApi(), SessionStore()
    session = session_of(store)
    async with client(api) as http:
        user = UserApi(http, session)
        assert await user.validate_step(1, {}) == [{"field": "basics.name", "msg": "too short"}]
        with pytest.raises(ApiRejected) as rejected:
            await user.bot("nope")
        assert rejected.value.status == 404 and rejected.value.detail == "There is no bot with this id."
        with pytest.raises(ApiUnreachable):
            await user.billing()


async def test_no_answer_is_unreachable_not_a_crash() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    store = SessionStore()
    async with httpx.AsyncClient(base_url="http://api", transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(ApiUnreachable):
            await UserApi(http, session_of(store)).bots()


def test_api_timestamps_are_read_for_the_formatters() -> None:
    from datetime import UTC, datetime

    from web.api import when

    assert when("2026-12-04T12:30:00Z") == datetime(2026, 12, 4, 12, 30, tzinfo=UTC)
    assert when(None) is None and when("soon") is None and when(17) is None
