"""A one-symbol bot writes byte for byte the audit and checkpoints it wrote before portfolios."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.unit.trader import one_symbol_golden as golden
from tests.unit.trader.audit_digest import first_difference, record_digest
from tests.unit.trader.pinned_run import run_pinned
from trader import checkpoint


@cache
def _now() -> dict[str, Any]:
    now: dict[str, Any] = run_pinned("tests.unit.trader.one_symbol_golden")
    return now


def test_one_symbol_records_and_checkpoints_are_unchanged_byte_for_byte() -> None:
    pinned, now = golden.pinned(), _now()["run"]
    per_record = [record_digest(line) for line in pinned["audit"]]
    assert now["audit"] == pinned["audit"], first_difference(now["audit"], per_record, pinned["audit"])
    assert len(pinned["audit"]) > 400
    assert now["checkpoints"] == pinned["checkpoints"]


def test_a_checkpoint_written_before_portfolios_resumes_to_the_same_records() -> None:
    pinned, lines = golden.pinned(), _now()["resumed"]
    seq_at_save = checkpoint.from_json(json.loads(pinned["checkpoints"][golden.RESUME_FROM])).seq
    assert lines and lines == pinned["audit"][-len(lines) :]
    assert json.loads(lines[0])["seq"] == seq_at_save + 1
