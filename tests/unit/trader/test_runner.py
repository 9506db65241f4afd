"""The bot runner: same decisions as the backtester, exact resumes, one error line for bad files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from stack.cli import main
from tests.bars_data import make_instance, small_profile, write_bars_csv
from trader import backtest
from trader.bars import load_file
from trader.checkpoint import CheckpointError
from trader.config import engine_config
from trader.instance import load_instance
from trader.runner import RunOptions, RunSummary, run_instance


def _run(config: Path, **options: Any) -> RunSummary:
    return asyncio.run(run_instance(load_instance(config, environ={}), RunOptions(**options)))


def _audit(home: Path) -> list[dict[str, Any]]:
    (path,) = home.glob("state/*/audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _checkpoint(home: Path) -> dict[str, Any]:
    (path,) = home.glob("state/*/checkpoint.json")
    return dict(json.loads(path.read_text()))


def test_runner_replaying_a_series_decides_exactly_what_the_backtester_decides(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 400)
    bot_id, config = make_instance(tmp_path / "home", data)
    summary = _run(config)
    expected = backtest.run(engine_config(small_profile(data), bot_id=str(bot_id)), load_file(data)).records
    assert summary.ended_by == "end of data" and summary.decisions == len(expected) > 200
    assert _audit(tmp_path / "home") == expected


def test_resuming_in_small_steps_ends_where_one_uninterrupted_run_ends(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 330)
    bot_id, whole = make_instance(tmp_path / "whole", data)
    _, stepped = make_instance(tmp_path / "stepped", data, bot_id=bot_id)
    _run(whole)
    runs = 0
    while _run(stepped, once=True, max_bars=37).bars_processed:
        runs += 1
    assert runs == 9  # ceil(330 / 37): every bar taken exactly once
    assert _audit(tmp_path / "stepped") == _audit(tmp_path / "whole")
    assert _checkpoint(tmp_path / "stepped") == _checkpoint(tmp_path / "whole")


def test_each_wake_processes_exactly_the_bars_appended_since_the_last(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 200)
    _, config = make_instance(tmp_path / "home", data)
    first = _run(config, once=True)
    assert (first.bars_processed, first.ended_by) == (200, "all due bars processed")
    previous = 200
    for total in (203, 210, 211):
        write_bars_csv(data, total)
        before = _checkpoint(tmp_path / "home")["seq"]
        woken = _run(config, once=True)
        assert woken.bars_processed == woken.decisions == total - previous
        assert (woken.first_seq, woken.last_seq) == (before + 1, before + total - previous)
        previous = total
    records = _audit(tmp_path / "home")
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    orders = [o["client_order_id"] for r in records for o in r["orders"]]
    assert len(orders) == len(set(orders))
    assert _run(config, once=True).bars_processed == 0  # nothing new: nothing done


def test_a_feed_that_no_longer_matches_the_checkpoint_is_refused(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 200)
    _, config = make_instance(tmp_path / "home", data)
    _run(config)
    write_bars_csv(data, 200, start=1)  # the same length, shifted by a day: not the bot's history
    with pytest.raises(CheckpointError, match="the data changed"):
        _run(config)
    write_bars_csv(data, 150)
    with pytest.raises(CheckpointError, match="has only 150"):
        _run(config)


def test_a_torn_last_audit_line_is_cut_and_the_bar_written_again(tmp_path: Path) -> None:
    data = write_bars_csv(tmp_path / "bars.csv", 200)
    _, config = make_instance(tmp_path / "home", data)
    _run(config, max_bars=180)
    (audit_path,) = (tmp_path / "home").glob("state/*/audit.jsonl")
    whole = audit_path.read_bytes()
    audit_path.write_bytes(whole + whole.splitlines(keepends=True)[-1][:40])  # a kill mid-write
    _run(config)
    records = _audit(tmp_path / "home")
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("bot_id: 12\nprofile: {}\n", "bot_id 12 is not a UUID"),
        ("just text", "expected a mapping with 'bot_id' and 'profile'"),
        (
            "bot_id: 00000000-0000-0000-0000-000000000001\nprofile: {basics: {}}\n",
            "profile.basics.name: Field required",
        ),
        ("a: [", "not valid YAML"),
    ],
)
def test_a_bad_instance_file_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, says: str
) -> None:
    config = tmp_path / "config" / "instances" / "bot.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(content)
    assert main(["bot", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err


def test_a_missing_bar_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, config = make_instance(tmp_path / "home", tmp_path / "nowhere.csv")
    assert main(["bot", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nowhere.csv: cannot open it" in err
