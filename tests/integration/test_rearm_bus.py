"""A person re-arms a bot halted for good (``rearm: manual``): the request reaches it through its own
``bot_state`` key, ends the halt at the next bar, and is applied once however often it is seen."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.intents import RearmRequest
from contracts.profile import BotProfile
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import BOT_STATE_BUCKET, ensure_topology, rearm_request_key
from tests.bars_data import SMALL_PROFILE, write_bars_csv
from tests.busauth import bot_creds_file
from tests.conftest import wait_for
from trader.instance import load_instance, write_instance
from trader.rearm import NOT_HALTED, write_request_file
from trader.runner import RunOptions, RunSummary, run_instance


def _manual_rearm_bot(home: Path, data: Path) -> tuple[uuid.UUID, Path]:
    """Fully invested in every regime, halted at a 4% drawdown (seq 13 of this data) until a person re-arms it."""
    profile = copy.deepcopy(SMALL_PROFILE)
    profile["market"]["data_file"] = str(data)
    profile["strategy"] = {
        "exposure_per_regime": [1.0, 1.0],
        "max_drawdown_pct": 4,
        "max_daily_loss_pct": 50,
        "rearm": "manual",
    }
    bot_id = uuid.uuid4()
    return bot_id, write_instance(home, bot_id, BotProfile.model_validate(profile), None)


async def _run(config: Path, nats_url: str, bot_id: uuid.UUID, **options: Any) -> RunSummary:
    # the bot's own least-privilege credentials: reading its request must not need more
    env = {"NATS_URL": nats_url, "NATS_CREDS": str(bot_creds_file(bot_id))}
    return await run_instance(load_instance(config, environ=env), RunOptions(**options))


def _records(home: Path, bot_id: uuid.UUID) -> list[dict[str, Any]]:
    path = home / "state" / str(bot_id) / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _kinds(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["kind"], e.get("rule")) for e in record["events"]]


async def test_a_request_ends_a_manual_halt_once_even_when_seen_twice_and_after_a_restart(
    tmp_path: Path, nats_server: NatsServer, bus: Bus
) -> None:
    await ensure_topology(bus.js)
    home = tmp_path / "home"
    bot_id, config = _manual_rearm_bot(home, write_bars_csv(tmp_path / "bars.csv", 300))

    await _run(config, nats_server.url, bot_id, max_decisions=20)
    halted = _records(home, bot_id)
    assert any(("halt", "drawdown") in _kinds(r) for r in halted)
    assert [r["risk"]["status"] for r in halted[-3:]] == ["killed"] * 3
    assert all(not r["orders"] for r in halted[-3:]), "a killed bot stays flat"

    # What the lifecycle worker does for POST /bots/{id}/rearm: put the request on the bot's key.
    request = RearmRequest(bot_id=bot_id)
    kv = await bus.js.key_value(BOT_STATE_BUCKET)
    await kv.put(rearm_request_key(bot_id), request.model_dump_json().encode())
    await _run(config, nats_server.url, bot_id, max_decisions=5)
    rearmed = _records(home, bot_id)[len(halted) :]
    first = rearmed[0]
    assert ("rearm", "manual") in _kinds(first)
    assert first["risk"]["status"] == "ok" and first["orders"], "the bot trades again at once"
    assert any(request.id in note for note in first["notes"])

    # The same request again (still on the key after a restart, and also dropped in as a file): nothing happens.
    write_request_file(home / "state" / str(bot_id), bot_id, request.id)
    await _run(config, nats_server.url, bot_id, max_decisions=40)
    later = _records(home, bot_id)[len(halted) + len(rearmed) :]
    assert len(later) == 40
    everything = _records(home, bot_id)
    assert sum(("rearm", "manual") in _kinds(r) for r in everything) == 1
    assert not any(request.id in note for r in later for note in r["notes"])


async def test_a_request_to_a_bot_that_is_not_halted_is_noted_and_never_applied_later(
    tmp_path: Path, nats_server: NatsServer, bus: Bus
) -> None:
    await ensure_topology(bus.js)
    home = tmp_path / "home"
    bot_id, config = _manual_rearm_bot(home, write_bars_csv(tmp_path / "bars.csv", 300))
    await _run(config, nats_server.url, bot_id, max_decisions=5)  # trading, halt still ahead (seq 13)
    assert _records(home, bot_id)[-1]["risk"]["status"] != "killed"

    request = RearmRequest(bot_id=bot_id)
    kv = await bus.js.key_value(BOT_STATE_BUCKET)
    await kv.put(rearm_request_key(bot_id), request.model_dump_json().encode())
    await _run(config, nats_server.url, bot_id, max_decisions=30)
    records = _records(home, bot_id)
    noted = [r for r in records if any(NOT_HALTED in note and request.id in note for note in r["notes"])]
    assert [r["seq"] for r in noted] == [6]
    # the halt that comes later is not ended by the old request
    assert any(("halt", "drawdown") in _kinds(r) for r in records[6:])
    assert records[-1]["risk"]["status"] == "killed"
    assert not any(("rearm", "manual") in _kinds(r) for r in records)


async def test_a_request_reaches_a_running_bot_between_two_bars(
    tmp_path: Path, nats_server: NatsServer, bus: Bus
) -> None:
    await ensure_topology(bus.js)
    home = tmp_path / "home"
    bot_id, config = _manual_rearm_bot(home, write_bars_csv(tmp_path / "bars.csv", 300))
    env = {"NATS_URL": nats_server.url, "NATS_CREDS": str(bot_creds_file(bot_id))}
    stop = asyncio.Event()
    run = asyncio.create_task(run_instance(load_instance(config, environ=env), RunOptions(pace=10), stop))

    async def killed() -> bool:
        return await _complete_records(home, bot_id, lambda r: r["risk"]["status"] == "killed")

    await wait_for(killed, timeout_s=60, what="the bot killed by its drawdown limit")
    request = RearmRequest(bot_id=bot_id)
    kv = await bus.js.key_value(BOT_STATE_BUCKET)
    await kv.put(rearm_request_key(bot_id), request.model_dump_json().encode())

    async def rearmed() -> bool:
        return await _complete_records(home, bot_id, lambda r: ("rearm", "manual") in _kinds(r))

    await wait_for(rearmed, timeout_s=60, what="the running bot re-armed")
    stop.set()
    summary = await asyncio.wait_for(run, 60)
    assert summary.ended_by in ("stop requested", "end of data")


async def _complete_records(home: Path, bot_id: uuid.UUID, wanted: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether a record written so far (whole lines: the bot may be mid-write) is ``wanted``."""
    path = home / "state" / str(bot_id) / "audit.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return any(wanted(json.loads(line)) for line in lines)
