"""A one-symbol bot writes byte for byte the audit and checkpoints it wrote before portfolios."""

from __future__ import annotations

import gzip
import json

from tests.unit.trader import one_symbol_golden as golden
from trader import audit, checkpoint
from trader.bars import load_bundled
from trader.engine import Engine


def _pinned() -> dict[str, list[str]]:
    with gzip.open(golden.GOLDEN, "rt", encoding="utf-8") as handle:
        data: dict[str, list[str]] = json.load(handle)
    return data


def test_one_symbol_records_and_checkpoints_are_unchanged_byte_for_byte() -> None:
    pinned, now = _pinned(), golden.run()
    assert len(now["audit"]) == len(pinned["audit"]) > 400
    for line_now, line_then in zip(now["audit"], pinned["audit"], strict=True):
        assert line_now == line_then
    assert now["checkpoints"] == pinned["checkpoints"]


def test_a_checkpoint_written_before_portfolios_resumes_to_the_same_records() -> None:
    pinned = _pinned()
    bars = load_bundled("sp500").head(golden.CHECKPOINT_AT[-1])
    resume_at = golden.CHECKPOINT_AT[1]
    saved = checkpoint.from_json(json.loads(pinned["checkpoints"][1]))
    seq_at_save = saved.seq
    engine = Engine(golden.CONFIG, saved.state)
    tail = [engine.on_bar(bars, t) for t in range(resume_at, len(bars))]
    lines = [audit.encode(record) for record in tail if record is not None]
    assert lines and lines == pinned["audit"][-len(lines) :]
    assert json.loads(lines[0])["seq"] == seq_at_save + 1
