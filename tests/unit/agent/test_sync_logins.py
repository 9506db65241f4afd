"""The agent's cached cloud login is shared by the sync loop, the Cloud page and the wizard.

A fake cloud (``httpx.MockTransport``) that, like the real API, hands out single-use refresh
tokens and signs every session out when one is spent twice. Gates hold requests open so the
interleavings that happen under load happen here on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import httpx
import pytest

from agent.cloud import CloudRejected
from agent.home import AgentHome
from agent.sync import CloudSync
from agent.tokens import TokenStore

URL = "http://cloud"


class FakeCloud:
    def __init__(self) -> None:
        self.serial = itertools.count(1)
        self.access: dict[str, str] = {}  # live access token -> email
        self.refresh: dict[str, str] = {}  # unspent refresh token -> email
        self.spent: dict[str, str] = {}
        self.signed_out: set[str] = set()
        self.hold_bots: dict[str, asyncio.Event] = {}  # email -> gate its bot list waits on
        self.hold_refresh: asyncio.Event | None = None
        self.waiting = asyncio.Event()  # a held request arrived
        self.refresh_calls = 0

    def pair(self, email: str) -> dict[str, str]:
        n = next(self.serial)
        access, refresh = f"access-{n}-{email}", f"refresh-{n}-{email}"
        self.access[access], self.refresh[refresh] = email, email
        return {"access_token": access, "refresh_token": refresh}

    def expire_access_tokens(self) -> None:
        self.access.clear()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/auth/login":
            return httpx.Response(200, json=self.pair(json.loads(request.content)["email"]))
        if path == "/api/v1/auth/refresh":
            self.refresh_calls += 1
            if self.hold_refresh is not None:
                self.waiting.set()
                await self.hold_refresh.wait()
            token = json.loads(request.content)["refresh_token"]
            if token in self.spent:  # reuse: every session of that user is signed out
                self.signed_out.add(self.spent[token])
                return httpx.Response(401, json={"detail": "This refresh token was already used"})
            email = self.refresh.pop(token, None)
            if email is None:
                return httpx.Response(401, json={"detail": "unknown refresh token"})
            self.spent[token] = email
            return httpx.Response(200, json=self.pair(email))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        email = self.access.get(token)
        if email is None or email in self.signed_out:
            return httpx.Response(401, json={"detail": "The access token is invalid or expired; log in again."})
        if path == "/api/v1/bots":
            gate = self.hold_bots.get(email)
            if gate is not None:
                self.waiting.set()
                await gate.wait()
            return httpx.Response(200, json={"bots": []})
        if path == "/api/v1/billing":
            return httpx.Response(200, json={"plan": email.split("@")[0]})
        return httpx.Response(404, json={"detail": "no such route"})


def _sync(tmp_path: Path, cloud: FakeCloud) -> CloudSync:
    transport = httpx.MockTransport(cloud.handle)
    return CloudSync(
        AgentHome.at(tmp_path / "home"),
        TokenStore(tmp_path / "config"),
        http_factory=lambda url: httpx.AsyncClient(transport=transport, base_url=url),
    )


async def test_a_sync_pass_that_outlives_a_new_login_does_not_bring_the_old_login_back(tmp_path: Path) -> None:
    cloud = FakeCloud()
    sync = _sync(tmp_path, cloud)
    await sync.login(URL, "free@example.com", "pw")
    cloud.hold_bots["free@example.com"] = gate = asyncio.Event()
    stale_pass = asyncio.create_task(sync.run_once())  # the background loop, slow under load
    await cloud.waiting.wait()

    await sync.login(URL, "pro@example.com", "pw")  # the user logs in as someone else on the Cloud page
    gate.set()
    await stale_pass
    assert sync.store.load() is not None and sync.store.load().email == "pro@example.com"  # type: ignore[union-attr]
    assert "free@example.com" not in sync.message

    assert await sync.run_once() == "online"
    assert sync.message.endswith("as pro@example.com")
    client, http = sync.client(sync.store.load())
    async with http:
        assert (await client.billing())["plan"] == "pro"  # what the wizard's plan check reads


async def test_two_clients_refreshing_one_login_at_once_spend_its_refresh_token_once(tmp_path: Path) -> None:
    cloud = FakeCloud()
    sync = _sync(tmp_path, cloud)
    await sync.login(URL, "pro@example.com", "pw")
    cloud.expire_access_tokens()
    cloud.hold_refresh = release = asyncio.Event()
    loop_client, loop_http = sync.client(sync.store.load())  # the sync loop's
    wizard_client, wizard_http = sync.client(sync.store.load())  # the wizard's plan check
    async with loop_http, wizard_http:
        first = asyncio.create_task(loop_client.list_bots())
        await cloud.waiting.wait()  # its refresh is on the wire
        second = asyncio.create_task(wizard_client.billing())
        release.set()
        assert await first == []
        assert (await second)["plan"] == "pro"
    assert cloud.refresh_calls == 1 and cloud.signed_out == set()

    # the refreshed pair is the one stored: the next pass does not spend the old token again
    assert await sync.run_once() == "online"
    assert cloud.signed_out == set()


async def test_a_client_refreshes_after_another_one_did_with_the_stored_pair(tmp_path: Path) -> None:
    cloud = FakeCloud()
    sync = _sync(tmp_path, cloud)
    await sync.login(URL, "pro@example.com", "pw")
    wizard_client, wizard_http = sync.client(sync.store.load())  # a page opened before the refresh
    cloud.expire_access_tokens()
    assert await sync.run_once() == "online"  # the loop refreshed and stored the new pair
    async with wizard_http:
        assert (await wizard_client.billing())["plan"] == "pro"
    assert cloud.refresh_calls == 1 and cloud.signed_out == set()


async def test_a_refresh_token_refused_by_the_cloud_still_asks_for_a_new_login(tmp_path: Path) -> None:
    cloud = FakeCloud()
    sync = _sync(tmp_path, cloud)
    await sync.login(URL, "pro@example.com", "pw")
    cloud.expire_access_tokens()
    cloud.refresh.clear()  # expired on the cloud's side
    client, http = sync.client(sync.store.load())
    async with http:
        with pytest.raises(CloudRejected) as refused:
            await client.billing()
    assert refused.value.status == 401
    assert await sync.run_once() == "reconnect"
