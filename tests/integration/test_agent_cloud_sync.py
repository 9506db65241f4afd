"""Cloud sync against the real API and workers: profiles flow both ways; with the cloud down
sync fails quietly while the bots trade; after 24 h the agent asks to reconnect; a new login
resumes syncing. Time is an injected clock."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.cloud import CloudClient, CloudUnreachable
from agent.instances import list_instances, write_instance
from agent.live import LiveFeed
from agent.supervisor import Supervisor
from agent.sync import CloudSync, SyncLinks
from agent.tokens import TokenStore
from api.app import create_app
from api.settings import ApiSettings
from contracts.profile import BotProfile
from events.bus import connect
from events.embedded import NatsServer
from events.topology import ensure_topology
from tests.agentutil import home_with_bots
from tests.conftest import VALID_PROFILE, wait_for
from workers.app import WorkerRuntime

PASSWORD = "correct horse battery"


class Outage(httpx.AsyncBaseTransport):
    """The real API in-process; while ``down`` every request fails as a refused connection would."""

    def __init__(self, app: Any) -> None:
        self.down = False
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def cloud(api_settings: ApiSettings, workers: WorkerRuntime) -> AsyncIterator[Outage]:
    app = create_app(api_settings)
    async with app.router.lifespan_context(app):
        yield Outage(app)


async def _cloud_bots(transport: Outage, email: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(transport=transport, base_url="http://cloud") as http:
        token = (await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        return list((await http.get("/api/v1/bots", headers=headers)).json()["bots"])


async def test_sync_both_ways_offline_grace_reconnect_prompt_and_resume(
    tmp_path: Path, cloud: Outage, nats_server: NatsServer
) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
        assert (await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})).status_code == 201
    home, (local_bot,) = home_with_bots(tmp_path / "home", bars=600)
    clock = Clock()
    store = TokenStore(tmp_path / "config")
    sync = CloudSync(
        home, store, clock=clock, http_factory=lambda url: httpx.AsyncClient(transport=cloud, base_url=url)
    )
    await sync.login("http://cloud", email, PASSWORD)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert "refresh_token" in store.path.read_text() and PASSWORD not in store.path.read_text()

    # a local bot is trading (it never depends on the cloud)
    nc = await connect(nats_server.url, name="t")
    await ensure_topology(nc.jetstream())
    await nc.close()
    live = LiveFeed()
    await live.start(nats_server.url)
    supervisor = Supervisor(home, env={"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": "5"})
    await supervisor.start(interval_s=0.2)
    try:
        # local -> cloud
        assert await sync.run_once() == "online"

        async def pushed() -> list[dict[str, Any]]:
            return [b for b in await _cloud_bots(cloud, email) if b["name"] == "bot 0"]

        (twin,) = await wait_for(pushed, timeout_s=20, what="the local bot in the cloud")
        assert twin["surface"] == "local"
        await sync.run_once()  # a second pass creates nothing new (idempotency key = local bot id)
        assert len(await pushed()) == 1

        # cloud -> local: a bot created in the cloud for this agent appears as an instance file
        async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
            token = (await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            made = await http.post(
                "/api/v1/bots",
                json={**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "name": "From the web"}},
                headers=headers,
            )
            web_bot = made.json()["bot_id"]

        async def pulled() -> bool:
            await sync.run_once()
            return home.config_path(web_bot).exists()

        await wait_for(pulled, timeout_s=20, what="the cloud bot written locally")
        assert {i.profile.basics.name for i in list_instances(home)[0]} == {"bot 0", "From the web"}

        await wait_for(lambda: _true(live.bot(local_bot).last_tick_seq > 0), timeout_s=60, what="ticks")

        # the cloud goes down at t0
        cloud.down = True
        t0 = clock.now
        clock.now = t0 + timedelta(hours=23, minutes=59)
        ticks_before = live.bot(local_bot).last_tick_seq
        assert await sync.run_once() == "offline"
        assert "Local bots keep running" in sync.message and "0.0 h left" in sync.message
        await wait_for(
            lambda: _true(live.bot(local_bot).last_tick_seq > ticks_before), timeout_s=30, what="trading continues"
        )

        clock.now = t0 + timedelta(hours=24, seconds=1)
        assert await sync.run_once() == "reconnect"
        assert "log in again" in sync.message and "local bots keep running" in sync.message
        assert supervisor.bots[local_bot].state == "running"

        # the cloud is back, but a lapsed login stays lapsed until the user logs in again
        cloud.down = False
        assert await sync.run_once() == "reconnect"
        async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
            made = await http.post(
                "/api/v1/bots",
                json={**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "name": "While away"}},
                headers=headers,
            )
            away_bot = made.json()["bot_id"]
        await sync.login("http://cloud", email, PASSWORD)

        async def resumed() -> bool:
            return await sync.run_once() == "online" and home.config_path(away_bot).exists()

        await wait_for(resumed, timeout_s=20, what="sync to resume")
    finally:
        await supervisor.close()
        await live.close()


async def test_a_bot_deleted_on_one_side_is_deleted_on_the_other(tmp_path: Path, cloud: Outage) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
        await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    home, (local_bot,) = home_with_bots(tmp_path / "home", bars=600)
    deleted_locally: list[str] = []

    async def delete_local(bot_id: str) -> None:
        deleted_locally.append(bot_id)
        home.config_path(bot_id).unlink()

    sync = CloudSync(
        home,
        TokenStore(tmp_path / "config"),
        http_factory=lambda url: httpx.AsyncClient(transport=cloud, base_url=url),
        delete_local=delete_local,
    )
    await sync.login("http://cloud", email, PASSWORD)
    await sync.run_once()
    (twin,) = await wait_for(lambda: _named(cloud, email, "bot 0"), timeout_s=20, what="pushed")
    await wait_for(lambda: _seen(sync, twin["id"]), timeout_s=10, what="seen")

    # local delete -> cloud delete
    home.config_path(local_bot).unlink()
    sync.forget_local(local_bot)
    await sync.run_once()
    await wait_for(lambda: _gone(cloud, email, "bot 0"), timeout_s=20, what="deleted in the cloud")

    # cloud delete -> local delete
    cloud_bot = BotProfile.model_validate({**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "name": "Web"}})
    write_instance(home, cloud_bot)
    await sync.run_once()
    (web,) = await wait_for(lambda: _named(cloud, email, "Web"), timeout_s=20, what="pushed")
    await wait_for(lambda: _seen(sync, web["id"]), timeout_s=10, what="seen")
    async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
        token = (await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).json()
        await http.delete(f"/api/v1/bots/{web['id']}", headers={"Authorization": f"Bearer {token['access_token']}"})

    async def removed() -> bool:
        await sync.run_once()
        return bool(deleted_locally)

    await wait_for(removed, timeout_s=20, what="deleted locally")
    assert list_instances(home)[0] == [], (deleted_locally, web, (home.state_root / "cloud-sync.json").read_text())


async def _true(value: bool) -> bool:
    return value


async def _named(cloud: Outage, email: str, name: str) -> list[dict[str, Any]]:
    return [b for b in await _cloud_bots(cloud, email) if b["name"] == name]


async def _gone(cloud: Outage, email: str, name: str) -> bool:
    return not await _named(cloud, email, name)


async def _seen(sync: CloudSync, cloud_id: str) -> bool:
    await sync.run_once()
    return any(b["id"] == cloud_id for b in sync.cloud_bots)


async def test_wizard_steps_are_checked_by_the_cloud_too(tmp_path: Path, cloud: Outage) -> None:
    async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
        client = CloudClient(http)
        assert await client.validate_step(4, {"n_states": 3, "training_window": 504}) == []
        errors = await client.validate_step(4, {"n_states": 9})
        assert [e["field"] for e in errors] == ["n_states"]
        cloud.down = True
        with pytest.raises(CloudUnreachable):
            await client.validate_step(1, {"name": "x", "surface": "local"})


async def test_broker_keys_in_the_local_env_never_reach_the_cloud(tmp_path: Path, cloud: Outage) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(transport=cloud, base_url="http://cloud") as http:
        await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    home, _ = home_with_bots(tmp_path / "home", bars=600)
    seen: list[bytes] = []

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.content + str(request.headers).encode())
            return await cloud.handle_async_request(request)

    profile = BotProfile.model_validate(VALID_PROFILE)
    write_instance(home, profile, env={"BROKER_API_KEY": "AKIA-very-secret", "BROKER_API_SECRET": "shh-secret"})
    sync = CloudSync(
        home,
        TokenStore(tmp_path / "config"),
        http_factory=lambda url: httpx.AsyncClient(transport=Recording(), base_url=url),
    )
    await sync.login("http://cloud", email, PASSWORD)
    assert await sync.run_once() == "online"
    assert len(SyncLinks.load(home).links) == 2  # both bots were sent
    assert not any(b"very-secret" in body or b"shh-secret" in body for body in seen)
