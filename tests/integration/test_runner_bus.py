"""A bot on the bus: audit once per seq in JetStream, ticks, a KV checkpoint a fresh machine resumes
from, and audit buffered on disk through a bus outage."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

from events.bus import Bus
from events.embedded import NatsServer, free_port
from events.topology import BOT_STATE_BUCKET, BOTS, ensure_topology
from tests.bars_data import make_instance, write_bars_csv
from tests.botproc import BotProcess
from tests.busauth import BUS_KEYS
from tests.busutil import messages_on
from tests.conftest import wait_for
from trader.instance import load_instance
from trader.runner import RunOptions, RunSummary, run_instance


async def _bus(url: str) -> Bus:
    bus = Bus(url, name="test-observer")
    await bus.start(wait_s=5)
    await ensure_topology(bus.js)
    return bus


async def _audit_seqs(bus: Bus, bot_id: uuid.UUID) -> list[int]:
    found = await messages_on(bus.js, BOTS.name, f"bots.{bot_id}.audit")
    return [body["seq"] for _, body in found]


async def _run(config: Path, nats_url: str, **options: object) -> RunSummary:
    instance = load_instance(config, environ={"NATS_URL": nats_url})
    return await run_instance(instance, RunOptions(**options))  # type: ignore[arg-type]


async def test_audit_ticks_and_checkpoint_reach_the_bus_and_a_fresh_machine_resumes_from_kv(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    bus = await _bus(nats_server.url)
    data = write_bars_csv(tmp_path / "bars.csv", 230)
    bot_id, config = make_instance(tmp_path / "home", data)
    first = await _run(config, nats_server.url)
    assert first.last_seq == first.decisions > 50
    found = await messages_on(bus.js, BOTS.name, f"bots.{bot_id}.>")
    audit = [body for subject, body in found if subject.endswith(".audit")]
    assert [a["seq"] for a in audit] == list(range(1, first.last_seq + 1))
    assert all(a["id"] == f"{bot_id}:{a['seq']}" and a["detail"]["seq"] == a["seq"] for a in audit)
    assert sum(subject.endswith(".tick") for subject, _ in found) == first.decisions
    assert any(subject.endswith(".status") and body["status"] == "stopped" for subject, body in found)
    kv = await bus.js.key_value(BOT_STATE_BUCKET)
    assert (await kv.get(str(bot_id))).value

    shutil.rmtree(tmp_path / "home" / "state")  # a new VM: the local disk is gone, KV is not
    write_bars_csv(data, 240)
    second = await _run(config, nats_server.url, once=True)
    assert (second.bars_processed, second.first_seq) == (10, first.last_seq + 1)
    assert await _audit_seqs(bus, bot_id) == list(range(1, second.last_seq + 1))
    await bus.close()


async def test_audit_written_while_the_bus_is_down_is_delivered_once_when_it_returns(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats", keys=BUS_KEYS, port=free_port())  # not started yet: the bus is down
    data = write_bars_csv(tmp_path / "bars.csv", 260)
    bot_id, config = make_instance(tmp_path / "home", data)
    run = asyncio.create_task(_run(config, server.url, pace=40.0))
    outbox = tmp_path / "home" / "state" / str(bot_id) / "outbox.jsonl"
    await wait_for(lambda: _lines_at_least(outbox, 20), timeout_s=60, what="decisions buffered while the bus is down")
    assert not run.done()
    server.start()
    bus = await _bus(server.url)
    summary = await asyncio.wait_for(run, 120)
    seqs = await wait_for(
        lambda: _all_delivered(bus, bot_id, summary.last_seq), timeout_s=30, what="every buffered record delivered"
    )
    assert seqs == list(range(1, summary.last_seq + 1))
    await bus.close()
    server.stop()


async def test_a_bot_killed_mid_run_and_restarted_publishes_every_seq_exactly_once(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    bus = await _bus(nats_server.url)
    data = write_bars_csv(tmp_path / "bars.csv", 330)
    bot_id, config = make_instance(tmp_path / "home", data)
    env = {"NATS_URL": nats_server.url}
    for seq in (15, 60, 120):
        bot = BotProcess(config, env=env)
        assert bot.read_until_seq(seq)
        bot.kill()
    bot = BotProcess(config, "--pace", "200", env=env)
    assert bot.read_until_seq(150)
    code, err = bot.terminate()  # SIGTERM: finish the bar, flush, deliver, exit 0
    assert code == 0, err
    assert "stop requested" in err
    stopped_at = bot.last_seq
    code, err = BotProcess(config, env=env).wait()
    assert code == 0, err
    seqs = await _audit_seqs(bus, bot_id)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > stopped_at
    await bus.close()


async def _lines_at_least(path: Path, n: int) -> bool:
    return path.exists() and path.read_bytes().count(b"\n") >= n


async def _all_delivered(bus: Bus, bot_id: uuid.UUID, last_seq: int) -> list[int] | None:
    seqs = await _audit_seqs(bus, bot_id)
    return seqs if len(seqs) >= last_seq else None
