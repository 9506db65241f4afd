"""X-Forwarded-For moves the rate-limit key only when a configured proxy sends it.

The API is served by uvicorn with the configuration ``hmmtrade api`` uses
(``stack.services.api_server_config``); the test client connects from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from api.settings import ApiSettings
from events.embedded import free_port
from stack.services import api_server_config
from tests.conftest import wait_for
from tests.security.clients import PASSWORD


@contextlib.asynccontextmanager
async def served(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    config = api_server_config(settings, "127.0.0.1", port, log_level="warning", timeout_keep_alive=300)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # raises what stopped it
        return bool(server.started)

    await wait_for(started, what="uvicorn to start")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def _signups_from_spoofed_addresses(client: httpx.AsyncClient, count: int) -> list[int]:
    statuses = []
    for n in range(count):
        body = {"email": f"xff-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD}
        response = await client.post("/api/v1/auth/signup", json=body, headers={"X-Forwarded-For": f"192.0.2.{n + 1}"})
        statuses.append(response.status_code)
    return statuses


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_key(
    api_settings: ApiSettings,
) -> None:
    settings = api_settings.model_copy(update={"signups_per_hour": 2, "forwarded_allow_ips": "10.99.0.1"})
    async with served(settings) as client:
        assert await _signups_from_spoofed_addresses(client, 3) == [201, 201, 429]


async def test_a_trusted_proxy_forwarded_for_is_the_key(api_settings: ApiSettings) -> None:
    """The counterpart: from 127.0.0.1 (trusted by default) each forwarded client has its own budget."""
    settings = api_settings.model_copy(update={"signups_per_hour": 2})
    assert settings.forwarded_allow_ips == "127.0.0.1"
    async with served(settings) as client:
        assert await _signups_from_spoofed_addresses(client, 3) == [201, 201, 201]


def test_uvicorn_gets_the_setting_not_its_own_environment_variable(
    api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own variable, read when none is passed
    config = api_server_config(api_settings, "127.0.0.1", 0)
    assert config.proxy_headers and config.forwarded_allow_ips == "127.0.0.1"
    none = api_server_config(api_settings.model_copy(update={"forwarded_allow_ips": ""}), "127.0.0.1", 0)
    assert not none.proxy_headers


def test_proxy_addresses_are_checked() -> None:
    assert ApiSettings(HMMTRADE_FORWARDED_ALLOW_IPS="10.0.0.0/8, fd00::1").forwarded_allow_ips == "10.0.0.0/8, fd00::1"
    with pytest.raises(ValueError, match=r"'proxy\.internal' is not an IP address"):
        ApiSettings(HMMTRADE_FORWARDED_ALLOW_IPS="127.0.0.1,proxy.internal")
    with pytest.raises(ValueError, match=r"HMMTRADE_FORWARDED_ALLOW_IPS='\*' is refused in production"):
        ApiSettings(HMMTRADE_ENV="production", HMMTRADE_JWT_PRIVATE_KEY_FILE="/k.pem", HMMTRADE_FORWARDED_ALLOW_IPS="*")
