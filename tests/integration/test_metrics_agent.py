"""The agent's ``/metrics`` on its dashboard server: the token rule and its bots by state."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from agent.runtime import AgentSettings, run_agent
from events.embedded import NatsServer, free_port
from tests.agentutil import home_with_bots
from tests.conftest import wait_for
from tests.metricsutil import TOKEN, scrape, value


async def test_the_agents_metrics_show_its_bot_running(tmp_path: Path, nats_server: NatsServer) -> None:
    home, [bot_id] = home_with_bots(tmp_path / "home", count=1, bars=420)
    port = free_port()
    settings = AgentSettings(
        home=home.root,
        port=port,
        nats_url=nats_server.url,
        bot_env={"HMMTRADE_REPLAY_PACE": "10"},
        metrics_token=TOKEN,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    agent = asyncio.create_task(run_agent(settings, stop=stop, on_ready=lambda _ctx: ready.set()))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        await asyncio.wait_for(ready.wait(), 60)
        async with httpx.AsyncClient() as scraper:
            assert (await scraper.get(url)).status_code == 401
            assert (await scraper.get(url, headers={"Authorization": "Bearer wrong"})).status_code == 401

            async def running() -> float:
                return value(await scrape(scraper, url), "hmmtrade_agent_bots", state="running")

            assert await wait_for(running, timeout_s=60, what=f"bot {bot_id} running in the agent's metrics") == 1
            samples = await scrape(scraper, url)
        assert value(samples, "hmmtrade_agent_bots", state="failed") == 0
        assert ("hmmtrade_agent_bot_restarts_total", ()) in samples
        assert ("hmmtrade_process_resident_memory_bytes", ()) in samples
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(agent, 60)
