"""SIGKILL the agent: its bots keep trading, and the next agent takes them back without
starting any a second time. A second agent on the same home is refused."""

from __future__ import annotations

import time
from pathlib import Path

from events.embedded import NatsServer, free_port
from tests.agentutil import AgentProcess, audit_on_bus, home_with_bots, processes_running


def _wait(probe, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_killed_agent_is_replaced_without_running_any_bot_twice(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    home, bot_ids = home_with_bots(tmp_path / "home", count=2, bars=420)
    env = {"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": "10"}
    first = AgentProcess(home.root, free_port(), env=env, log=tmp_path / "agent-1.log")
    first.wait_ready()
    pids = {b: _wait(lambda b=b: processes_running(home, b), 60, f"bot {b} running") for b in bot_ids}
    first.kill()
    time.sleep(1.0)  # the bots are not the agent's to lose: they keep going on their own
    for bot_id, running in pids.items():
        assert processes_running(home, bot_id) == running

    second = AgentProcess(home.root, free_port(), env=env, log=tmp_path / "agent-2.log")
    try:
        second.wait_ready()
        for _ in range(20):  # across many reconcile passes, never a second process
            for bot_id, running in pids.items():
                assert processes_running(home, bot_id) == running
            time.sleep(0.25)

        refused = AgentProcess(home.root, free_port(), env=env, log=tmp_path / "agent-3.log")
        assert refused.process.wait(60) == 2
        assert "another agent" in (tmp_path / "agent-3.log").read_text()
    finally:
        assert second.stop() == 0
    for bot_id in bot_ids:
        assert processes_running(home, bot_id) == [], "stopping the agent stops its bots"
        seqs = [r["seq"] for r in await audit_on_bus(nats_server.url, bot_id)]
        assert seqs == list(range(1, len(seqs) + 1)) and seqs
