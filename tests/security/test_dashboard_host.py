"""The agent dashboard answers only its own Host names (DNS-rebinding defence): a request for
``evil.example`` gets a 403 without the page, over HTTP and for the websocket upgrade; the
loopback names keep working."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from agent.dashboard.hosts import allowed_hosts
from agent.runtime import AgentSettings
from events.embedded import free_port
from tests.e2e.agentserver import AgentThread

PAGE_MARKER = "HMM Trade agent"  # the page title Panel renders into the HTML


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentThread]:
    root = tmp_path_factory.mktemp("agent")
    # No nats_url: the agent runs its own (authenticated) bus, as on a user's laptop.
    settings = AgentSettings(home=root / "home", port=free_port(), sync_interval_s=3600, config_dir=root / "config")
    thread = AgentThread(settings)
    thread.start()
    yield thread
    thread.stop()


async def test_the_agents_own_bus_refuses_an_anonymous_client(agent: AgentThread) -> None:
    log = (agent.settings.home / "nats" / "nats-server.log").read_text()
    match = re.search(r"Listening for client connections on (\S+)", log)
    assert match is not None, log[-2000:]
    with pytest.raises(NatsError, match=r"(?i)authorization violation"):
        await nats.connect(f"nats://{match.group(1)}", allow_reconnect=False, connect_timeout=2)


def _get(agent: AgentThread, path: str, host: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{agent.base}{path}", headers={"Host": host, **headers}, timeout=30)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1.evil.example:{port}",
        "localhost:1",  # right name, another port: not this dashboard
        "127.0.0.1",  # no port is not what a browser sends for this origin
    ],
)
def test_a_page_asked_for_under_another_host_is_403_without_the_page(agent: AgentThread, host: str) -> None:
    response = _get(agent, "/bots", host.format(port=agent.settings.port))
    assert response.status_code == 403, response.text
    assert "Unexpected Host header" in response.text and PAGE_MARKER not in response.text
    assert response.headers["content-type"].startswith("text/plain")


def test_static_files_and_the_websocket_upgrade_are_refused_too(agent: AgentThread) -> None:
    evil = f"evil.example:{agent.settings.port}"
    assert _get(agent, "/static/js/bokeh.min.js", evil).status_code == 403
    upgrade = _get(
        agent,
        "/bots/ws",
        evil,
        Connection="Upgrade",
        Upgrade="websocket",
        Origin=f"http://{evil}",
        **{"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )
    assert upgrade.status_code == 403


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_the_loopback_names_get_the_page(agent: AgentThread, name: str) -> None:
    response = _get(agent, "/bots", f"{name}:{agent.settings.port}")
    assert response.status_code == 200, response.text
    assert PAGE_MARKER in response.text


def test_the_allowed_hosts_are_the_loopback_names_and_the_bind_address() -> None:
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765"}
    assert allowed_hosts("192.168.1.5", 80) == {"127.0.0.1:80", "localhost:80", "192.168.1.5:80"}
    assert "[::1]:8765" in allowed_hosts("::1", 8765)
