"""``bench.live`` runs end to end on a tiny fleet: one bot, two bars, a short load row.

A smoke test of the benchmark's wiring (emulator process, real live runner, probes,
table, JSON), not of its figures: no timing is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import live


def test_the_live_bench_prints_its_rows_and_writes_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "live.json"
    live.main(["--bots", "1", "--bars", "2", "--raw", "5", "--clients", "1", "--seconds", "0.3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "bar close -> order acknowledged" in printed and "load average" in printed
    assert any(line.split()[:2] == ["1", "2"] for line in printed.splitlines())  # the 1-bot row, 2 bars
    assert "emulator throughput" in printed
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row["bots"] == 1 and row["samples"] and len(row["raw_ms"]) == 5
    assert result["throughput"][0]["clients"] == 1 and result["throughput"][0]["orders_per_s"] > 0
