"""Bots forked from the agent's zygote behave like spawned ones: they trade and publish their
audit, stop cleanly on SIGTERM, come back after a SIGKILL; when the zygote itself is SIGKILLed
the supervisor keeps following its bots by pid and starts a new zygote."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent import procs, zygote_client
from agent.home import AgentHome
from agent.live import LiveFeed
from agent.supervisor import Supervisor
from agent.zygote_client import SWITCH_ENV, Zygote, ZygoteChild, ZygoteLost, enabled
from events.embedded import NatsServer
from tests.agentutil import audit_on_bus, home_with_bots, processes_running
from tests.bars_data import make_instance, write_bars_csv
from tests.conftest import wait_for
from trader.instance import load_instance
from trader.runner import RunOptions, run_instance


def _supervisor(home: AgentHome, nats_server: NatsServer, feed: LiveFeed, *, zygote: bool | None = True) -> Supervisor:
    env = {"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": "10"}
    return Supervisor(home, env=env, last_status=feed.last_status, zygote=zygote)


def _until(probe: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _checkpoint_seq(home: AgentHome, bot_id: str) -> int:
    return int(json.loads((home.state_dir(bot_id) / "checkpoint.json").read_text())["seq"])


async def _ticking(feed: LiveFeed, bot_id: str, beyond: int = 0) -> int | None:
    seq = feed.bot(bot_id).last_tick_seq
    return seq if seq > beyond else None


async def test_forked_bots_trade_publish_their_audit_and_stop_cleanly_on_sigterm(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, bot_ids = home_with_bots(tmp_path / "home", count=2, bars=420)
    supervisor = _supervisor(home, nats_server, feed)
    await supervisor.start(interval_s=0.2)
    try:
        assert supervisor.zygote is not None and supervisor.zygote.ready
        for bot_id in bot_ids:
            await wait_for(lambda b=bot_id: _ticking(feed, b, 5), timeout_s=60, what=f"{bot_id} ticking")
            bot = supervisor.bots[bot_id]
            assert isinstance(bot.child, ZygoteChild) and bot.pid is not None
            assert _parent_of(bot.pid) == supervisor.zygote.pid, "forked by the zygote"
            assert processes_running(home, bot_id) == [bot.pid], "found by its --config like a spawned bot"
            assert os.getpgid(bot.pid) == bot.pid, "leads its own process group"

        stopped = bot_ids[0]
        await supervisor.stop(stopped)
        assert supervisor.bots[stopped].last_exit == 0, "SIGTERM: finish the bar, flush, checkpoint, exit 0"
        assert processes_running(home, stopped) == []
        assert supervisor.bots[bot_ids[1]].state == "running"
    finally:
        await supervisor.close()
    for bot_id in bot_ids:
        seqs = [r["seq"] for r in await audit_on_bus(nats_server.url, bot_id)]
        assert seqs == list(range(1, len(seqs) + 1)) and seqs, "each decision once, in order"
        assert seqs[-1] == _checkpoint_seq(home, bot_id), "every checkpointed decision's audit was flushed"
    assert "Traceback" not in home.log_path(stopped).read_text()


async def test_a_sigkilled_forked_bot_is_restarted_from_the_zygote(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    supervisor = _supervisor(home, nats_server, feed)
    await supervisor.start(interval_s=0.2)
    try:
        assert supervisor.zygote is not None
        await wait_for(lambda: _ticking(feed, bot_id, 5), timeout_s=60, what="ticks")
        first_pid = supervisor.bots[bot_id].pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)

        async def restarted() -> int | None:
            bot = supervisor.bots[bot_id]
            return bot.pid if bot.pid not in (None, first_pid) and bot.restarts == 1 else None

        second_pid = await wait_for(restarted, timeout_s=15, what="a restart")
        assert supervisor.bots[bot_id].history[-1] == "crashed (exit -9); restarting in 1 s"
        assert _parent_of(second_pid) == supervisor.zygote.pid
        seen = feed.bot(bot_id).last_tick_seq
        await wait_for(lambda: _ticking(feed, bot_id, seen + 5), timeout_s=60, what="ticks after the restart")
    finally:
        await supervisor.close()


async def test_a_sigkilled_zygote_is_replaced_and_its_bots_stay_supervised(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, bot_ids = home_with_bots(tmp_path / "home", count=2, bars=420)
    supervisor = _supervisor(home, nats_server, feed)
    await supervisor.start(interval_s=0.2)
    try:
        assert supervisor.zygote is not None
        for bot_id in bot_ids:
            await wait_for(lambda b=bot_id: _ticking(feed, b, 5), timeout_s=60, what=f"{bot_id} ticking")
        first_zygote = supervisor.zygote.pid
        assert first_zygote is not None
        os.kill(first_zygote, signal.SIGKILL)

        async def replaced() -> bool:
            zygote = supervisor.zygote
            return zygote is not None and zygote.ready and zygote.pid != first_zygote

        await wait_for(replaced, timeout_s=60, what="a new zygote")
        orphan, other = bot_ids
        orphan_pid = supervisor.bots[orphan].pid
        assert orphan_pid is not None and processes_running(home, orphan) == [orphan_pid], "the bots ran on"
        seen = feed.bot(orphan).last_tick_seq
        await wait_for(lambda: _ticking(feed, orphan, seen + 3), timeout_s=60, what="ticks after the zygote died")

        os.kill(orphan_pid, signal.SIGKILL)  # its exit code died with the zygote: noticed by pid

        async def restarted() -> int | None:
            bot = supervisor.bots[orphan]
            return bot.pid if bot.pid not in (None, orphan_pid) else None

        new_pid = await wait_for(restarted, timeout_s=15, what="the orphan restarted")
        assert "crashed" in supervisor.bots[orphan].history[-1]
        assert _parent_of(new_pid) == supervisor.zygote.pid, "forked by the new zygote"

        await supervisor.stop(other)  # a bot of the dead zygote still stops on request
        assert processes_running(home, other) == [] and supervisor.bots[other].state == "stopped"
    finally:
        await supervisor.close()
    assert all(processes_running(home, b) == [] for b in bot_ids)


async def test_the_switch_turns_the_zygote_off_and_bots_start_as_fresh_interpreters(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert enabled({}) and not enabled({SWITCH_ENV: "0"}) and not enabled({SWITCH_ENV: "off"})
    monkeypatch.setenv(SWITCH_ENV, "0")
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    supervisor = _supervisor(home, nats_server, feed, zygote=None)
    await supervisor.start(interval_s=0.2)
    try:
        assert supervisor.zygote is None
        await wait_for(lambda: _ticking(feed, bot_id), timeout_s=60, what="ticks")
        pid = supervisor.bots[bot_id].pid
        assert pid is not None and _parent_of(pid) == os.getpid()
    finally:
        await supervisor.close()


def test_a_request_to_a_dead_zygote_says_so_and_a_new_zygote_reports_its_childrens_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zygote_client, "RESTART_EVERY_S", 0.0)
    zygote = Zygote(tmp_path / "zygote.log", env=os.environ)
    zygote.start()
    try:
        _until(zygote.check_ready, "the preload")
        dead = zygote.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        _until(lambda: not procs.is_alive(dead), "the zygote's death")
        with (tmp_path / "bot.log").open("ab") as log, pytest.raises(ZygoteLost):
            zygote.spawn([sys.executable, "-m", "json.tool", "--help"], env=os.environ, cwd=tmp_path, log_file=log)
        assert not zygote.ready

        def restarted() -> bool:
            zygote.keep_alive()
            return zygote.ready

        _until(restarted, "a new zygote")
        with (tmp_path / "bot.log").open("ab") as log:
            ok, bad = (
                zygote.spawn([sys.executable, "-m", "json.tool", arg], env=os.environ, cwd=tmp_path, log_file=log)
                for arg in ("--help", "missing.json")
            )
        assert ok is not None and bad is not None
        _until(lambda: ok.poll() is not None and bad.poll() is not None, "both children to exit")
        assert (ok.returncode, bad.returncode) == (0, 2), "exit codes as the interpreter gives them"
        text = (tmp_path / "bot.log").read_text()
        assert "usage: python -m json.tool" in text and "missing.json" in text, "stdout and stderr in the log"
    finally:
        zygote.close()


def test_a_bot_forked_from_the_zygote_audits_byte_for_byte_what_an_in_process_run_does(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 420)
    bot_id, reference = make_instance(tmp_path / "reference", data)
    _, forked = make_instance(tmp_path / "forked", data, bot_id=bot_id)
    asyncio.run(run_instance(load_instance(reference, environ={}), RunOptions()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS")}  # audit to the state folder
    zygote = Zygote(tmp_path / "zygote.log", env=env)
    zygote.start()
    try:
        _until(zygote.check_ready, "the preload")
        with (tmp_path / "bot.log").open("ab") as log:
            child = zygote.spawn(
                [sys.executable, "-m", "trader.cli", "--config", str(forked)], env=env, cwd=tmp_path, log_file=log
            )
        assert child is not None
        _until(lambda: child.poll() is not None, "the replay to end", timeout_s=300)
    finally:
        zygote.close()
    assert child.returncode == 0, (tmp_path / "bot.log").read_text()[-2000:]
    (expected,) = (tmp_path / "reference").glob("state/*/audit.jsonl")
    (got,) = (tmp_path / "forked").glob("state/*/audit.jsonl")
    assert got.read_bytes() == expected.read_bytes()
