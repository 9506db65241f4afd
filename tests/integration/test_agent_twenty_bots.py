"""Twenty local bots under one supervisor at once: every one runs, ticks and heartbeats,
each in exactly one process."""

from __future__ import annotations

from pathlib import Path

from agent.live import LiveFeed
from agent.supervisor import Supervisor
from events.bus import connect
from events.embedded import NatsServer
from events.topology import ensure_topology
from tests.agentutil import home_with_bots, processes_running
from tests.conftest import wait_for


async def test_twenty_bots_run_side_by_side(tmp_path: Path, nats_server: NatsServer) -> None:
    home, bot_ids = home_with_bots(tmp_path / "home", count=20, bars=600)
    nc = await connect(nats_server.url, name="t")
    await ensure_topology(nc.jetstream())
    await nc.close()
    live = LiveFeed()
    await live.start(nats_server.url)
    supervisor = Supervisor(home, env={"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": "2"})
    await supervisor.start(interval_s=0.5)
    try:

        async def all_ticking() -> bool:
            # "running" is set by the reconcile pass after the spawn: a bot forked from the zygote
            # can tick before that pass comes round, so the state is part of what is waited for.
            return all(
                live.bot(b).last_tick_seq > 0 and live.health(b) == "healthy" and supervisor.bots[b].state == "running"
                for b in bot_ids
            )

        await wait_for(all_ticking, timeout_s=240, interval_s=0.5, what="20 bots ticking")
        for bot_id in bot_ids:
            assert len(processes_running(home, bot_id)) == 1
        assert sum(b.restarts for b in supervisor.bots.values()) == 0
    finally:
        await supervisor.close()
        await live.close()
    assert all(processes_running(home, b) == [] for b in bot_ids)
