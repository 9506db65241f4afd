"""`hmmtrade backtest --holdout-from`: the tail stays unseen until ``--reveal-holdout`` reports it apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stack.cli import main
from tests.unit.trader.test_backtest_cli import _profile, _write_bars
from trader.bars import load_bundled

BARS = load_bundled("sp500").head(420)
CUT = BARS.dates[330]


def _run(tmp_path: Path, out: str, *extra: str) -> int:
    data, profile = _write_bars(tmp_path / "bars.csv"), _profile(tmp_path)
    return main(["backtest", "--data", str(data), "--profile", str(profile), "--out", str(tmp_path / out), *extra])


def _read(tmp_path: Path, out: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records = [json.loads(line) for line in (tmp_path / out / "audit.jsonl").read_text().splitlines()]
    return records, json.loads((tmp_path / out / "metrics.json").read_text())


def test_a_holdout_is_neither_run_nor_reported(tmp_path: Path) -> None:
    assert _run(tmp_path, "kept", "--holdout-from", str(CUT)) == 0
    records, metrics = _read(tmp_path, "kept")
    assert records and all(r["bar"]["date"] < str(CUT) for r in records)
    assert records[-1]["bar"]["date"] == str(BARS.dates[329])
    assert metrics["last_decision"] < str(CUT)
    assert metrics["holdout"] == {
        "from": str(CUT),
        "revealed": False,
        "unseen_bars": 90,
        "note": f"the 90 bars from {CUT} on were neither run nor reported",
    }
    page = (tmp_path / "kept" / "report.html").read_text()
    assert "neither run nor reported" in page and "Better than chance?" in page


def test_revealing_the_holdout_reports_it_apart_and_leaves_the_in_sample_part_unchanged(tmp_path: Path) -> None:
    assert _run(tmp_path, "kept", "--holdout-from", str(CUT)) == 0
    assert _run(tmp_path, "shown", "--holdout-from", str(CUT), "--reveal-holdout") == 0
    _, kept = _read(tmp_path, "kept")
    records, shown = _read(tmp_path, "shown")
    assert records[-1]["bar"]["date"] == str(BARS.dates[-1])
    in_sample, holdout = shown["holdout"]["in_sample"], shown["holdout"]["holdout"]
    assert shown["holdout"]["revealed"] is True
    assert in_sample["last_decision"] < str(CUT) == holdout["first_decision"]
    assert holdout["bars"] == 90 and in_sample["bars"] + holdout["bars"] == shown["bars"]
    unrevealed = {k: v for k, v in kept.items() if k not in ("holdout", "mode")}
    assert in_sample == unrevealed  # the decisions before the cut never depended on the holdout
    assert set(holdout["evaluation"]) == set(in_sample["evaluation"])
    page = (tmp_path / "shown" / "report.html").read_text()
    for heading in ("Whole run", "In sample (before", "Holdout", "Better than chance?", "Results per confidence"):
        assert heading in page


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--reveal-holdout",), "--reveal-holdout needs --holdout-from DATE"),
        (("--holdout-from", "1990-01-01"), "is on or before the first bar"),
        (("--holdout-from", "2030-01-01"), "is after the last bar"),
        (("--holdout-from", str(BARS.dates[170])), "needs more data: only 170 bars given before --holdout-from"),
        (("--holdout-from", str(CUT), "--from", str(BARS.dates[340])), "falls inside the holdout"),
        (("--holdout-from", str(CUT), "--to", str(BARS.dates[300])), "ends before --holdout-from"),
    ],
)
def test_a_holdout_the_data_cannot_honour_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], says: str
) -> None:
    assert _run(tmp_path, "out", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err
