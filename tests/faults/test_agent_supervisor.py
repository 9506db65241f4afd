"""The supervisor keeps bots running: a SIGKILLed bot comes back from its checkpoint without
sending an order twice; stop/start/restart/delete do what they say; a bad config is not retried."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from agent.live import LiveFeed
from agent.supervisor import Supervisor
from events.embedded import NatsServer
from tests.agentutil import audit_on_bus, home_with_bots, processes_running
from tests.conftest import wait_for


def _supervisor(home, nats_server: NatsServer, feed: LiveFeed, pace: str = "20") -> Supervisor:  # type: ignore[no-untyped-def]
    return Supervisor(
        home, env={"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": pace}, last_status=feed.last_status
    )


async def test_a_sigkilled_bot_restarts_from_its_checkpoint_and_sends_no_order_twice(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    supervisor = _supervisor(home, nats_server, feed)
    await supervisor.start(interval_s=0.2)
    try:
        await wait_for(lambda: _async(feed.bot(bot_id).last_tick_seq >= 20), timeout_s=60, what="20 ticks")
        first_pid = supervisor.bots[bot_id].pid
        assert first_pid is not None and processes_running(home, bot_id) == [first_pid]
        os.kill(first_pid, signal.SIGKILL)

        async def restarted() -> int | None:
            bot = supervisor.bots[bot_id]
            return bot.pid if bot.pid not in (None, first_pid) and bot.restarts == 1 else None

        second_pid = await wait_for(restarted, timeout_s=10, what="a restart")
        assert "crashed" in supervisor.bots[bot_id].history[-1]
        seen_before = feed.bot(bot_id).last_tick_seq
        await wait_for(
            lambda: _async(feed.bot(bot_id).last_tick_seq >= seen_before + 10), timeout_s=60, what="ticks after restart"
        )
        assert processes_running(home, bot_id) == [second_pid]
    finally:
        await supervisor.close()
    records = await audit_on_bus(nats_server.url, bot_id)
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(1, len(seqs) + 1)), "each decision exactly once, in order"
    order_ids = [o["client_order_id"] for r in records for o in r["detail"]["orders"]]
    assert len(order_ids) == len(set(order_ids)) and order_ids, "no order sent twice"


async def test_stop_start_restart_and_delete_on_request(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    supervisor = _supervisor(home, nats_server, feed, pace="5")
    await supervisor.start(interval_s=0.2)
    try:
        await wait_for(lambda: _async(feed.health(bot_id) == "healthy"), timeout_s=60, what="a heartbeat")
        await supervisor.stop(bot_id)
        assert processes_running(home, bot_id) == []
        assert supervisor.bots[bot_id].state == "stopped"
        supervisor.reconcile()
        assert processes_running(home, bot_id) == [], "a stopped bot stays stopped"

        await supervisor.start_bot(bot_id)
        await wait_for(lambda: _async(len(processes_running(home, bot_id)) == 1), timeout_s=10, what="start")
        pid = supervisor.bots[bot_id].pid
        await supervisor.restart(bot_id)
        await wait_for(lambda: _async(supervisor.bots[bot_id].pid not in (None, pid)), timeout_s=10, what="restart")
        new_pid = supervisor.bots[bot_id].pid
        # a just-forked child shows its parent's argv until it execs: wait for it to become the bot
        await wait_for(lambda: _async(processes_running(home, bot_id) == [new_pid]), timeout_s=10, what="one process")

        await supervisor.delete(bot_id)
        assert processes_running(home, bot_id) == []
        assert not home.config_path(bot_id).exists() and not home.state_dir(bot_id).exists()
        supervisor.reconcile()
        assert bot_id not in supervisor.bots
    finally:
        await supervisor.close()


async def test_a_bad_config_fails_once_with_the_runners_error(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    (tmp_path / "home" / "bars.csv").unlink()  # the runner cannot read its data
    supervisor = _supervisor(home, nats_server, feed)
    await supervisor.start(interval_s=0.2)
    try:
        await wait_for(lambda: _async(supervisor.bots[bot_id].state == "failed"), timeout_s=30, what="failed")
        assert supervisor.bots[bot_id].reason.startswith("error:")
        assert "bars.csv" in supervisor.bots[bot_id].reason
        assert supervisor.bots[bot_id].restarts == 0
    finally:
        await supervisor.close()


async def _async(value: bool) -> bool:
    return value
