"""``bench.web --quick`` runs end to end: the whole product (``hmmtrade up``), one logged-in browser
session on its user's bot page, ticks published as a bot would, the table and the JSON.

A smoke test of the benchmark's wiring, not of its figures: no timing is checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import web


def test_the_web_bench_prints_its_table_and_writes_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "web.json"
    web.main(["--quick", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "tick -> browser" in printed and "load average" in printed
    header = next(line for line in printed.splitlines() if line.split()[:2] == ["sessions", "seen/sent"])
    assert "bus->py p50" in header and "web RSS MiB" in header and "CPU/session" in header
    (row_line,) = [line for line in printed.splitlines() if line.split()[:1] == ["1"] and "/" in line.split()[1]]
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row_line.split()[1] == f"{row['seen']}/{row['sent']}"
    assert row["sessions"] == 1 and row["sent"] == 6 and row["publish_failed"] == 0
    assert row["seen"] >= 1, "no tick reached the browser page"
    assert row["python_seen"] == row["sent"], "the baseline subscriber missed ticks"
    assert row["web_rss_mib"] > 0 and row["page_errors"] == 0
    assert "goal: browser p99 < 500 ms at 50 sessions: not measured in this run" in printed
