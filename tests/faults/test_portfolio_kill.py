"""A 3-symbol portfolio bot SIGKILLed at random bars and restarted each time ends exactly like one that never died."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.botproc import BotProcess
from tests.portfolio_data import SYMBOLS, make_portfolio_instance, write_portfolio_files
from trader.broker import client_order_id
from trader.instance import load_instance
from trader.runner import RunOptions, run_instance


def _records(home: Path) -> list[dict[str, Any]]:
    (path,) = home.glob("state/*/audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _final_book(home: Path) -> dict[str, Any]:
    (path,) = home.glob("state/*/checkpoint.json")
    checkpoint = json.loads(path.read_text())
    return {key: checkpoint[key] for key in ("seq", "bars_seen", "last_bar", "broker", "legs", "more_slots")}


@pytest.mark.timeout(600)  # 9 process starts: well under a minute on an idle 2-core machine
def test_sigkills_at_random_bars_leave_the_portfolio_audit_and_book_as_one_uninterrupted_run(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path / "data", 330, missing={"CCC": 150})
    bot_id, reference = make_portfolio_instance(tmp_path / "reference", str(pattern), scope="per_symbol")
    _, killed = make_portfolio_instance(tmp_path / "killed", str(pattern), bot_id=bot_id, scope="per_symbol")
    asyncio.run(run_instance(load_instance(reference, environ={}), RunOptions(), out=io.StringIO()))
    expected = _records(tmp_path / "reference")
    kill_at = sorted(random.Random(15).sample(range(1, len(expected) - 5), 8))

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
    assert kills == 8
    records = _records(tmp_path / "killed")
    assert [r["seq"] for r in records] == list(range(1, len(expected) + 1))
    assert records == expected
    assert _final_book(tmp_path / "killed") == _final_book(tmp_path / "reference")
    orders = [(r["bar"]["date"], o) for r in records for o in r["orders"]]
    assert {o["symbol"] for _, o in orders} == set(SYMBOLS)
    per_bar_and_symbol = Counter((day, o["symbol"]) for day, o in orders)
    assert max(per_bar_and_symbol.values()) == 1
    assert all(o["client_order_id"] == client_order_id(str(bot_id), day, o["symbol"]) for day, o in orders)
    order_ids = [o["client_order_id"] for _, o in orders]
    fill_ids = [f["client_order_id"] for r in records for f in r["fills"]]
    assert len(order_ids) == len(set(order_ids)) and len(fill_ids) == len(set(fill_ids))
