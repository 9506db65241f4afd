"""A bot SIGKILLed at 20 random bars and restarted each time ends exactly like one that never died."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from tests.bars_data import make_instance, write_bars_csv
from tests.botproc import BotProcess
from trader.instance import load_instance
from trader.runner import RunOptions, run_instance


def _records(home: Path) -> list[dict[str, Any]]:
    (path,) = home.glob("state/*/audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _final_book(home: Path) -> dict[str, Any]:
    (path,) = home.glob("state/*/checkpoint.json")
    checkpoint = json.loads(path.read_text())
    return {"seq": checkpoint["seq"], "bars_seen": checkpoint["bars_seen"], "broker": checkpoint["broker"]}


def test_twenty_sigkills_at_random_bars_change_nothing_and_send_no_order_twice(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 420)
    bot_id, reference = make_instance(tmp_path / "reference", data)
    _, killed = make_instance(tmp_path / "killed", data, bot_id=bot_id)
    asyncio.run(run_instance(load_instance(reference, environ={}), RunOptions()))
    expected = _records(tmp_path / "reference")
    kill_at = sorted(random.Random(20260).sample(range(1, len(expected) - 5), 20))

    kills = 0
    for seq in kill_at:
        bot = BotProcess(killed)
        if bot.read_until_seq(seq):
            bot.kill()  # wherever it is by now: mid-bar, mid-write, mid-checkpoint
            kills += 1
        else:
            bot.wait()
    code, err = BotProcess(killed).wait()

    assert code == 0, err
    assert kills == 20
    records = _records(tmp_path / "killed")
    assert [r["seq"] for r in records] == list(range(1, len(expected) + 1))
    assert records == expected
    assert _final_book(tmp_path / "killed") == _final_book(tmp_path / "reference")
    order_ids = [o["client_order_id"] for r in records for o in r["orders"]]
    fill_ids = [f["client_order_id"] for r in records for f in r["fills"]]
    assert len(order_ids) == len(set(order_ids)) and len(fill_ids) == len(set(fill_ids))
