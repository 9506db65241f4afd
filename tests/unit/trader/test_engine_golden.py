"""A two-symbol portfolio backtest writes byte for byte the audit it wrote before the issue-16 speed work."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.unit.trader import portfolio_golden as golden
from tests.unit.trader.audit_digest import digest, first_difference
from tests.unit.trader.pinned_run import run_pinned


def _pinned() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))
    return data


@cache
def _run() -> tuple[str, ...]:
    return tuple(run_pinned("tests.unit.trader.portfolio_golden"))


def test_a_portfolio_backtest_audit_matches_its_pinned_digest() -> None:
    pinned, lines = _pinned(), _run()
    now = digest(lines)
    assert now["sha256"] == pinned["sha256"], first_difference(lines, pinned["per_record"])
    assert now["records"] == pinned["records"] > 300


def test_the_pinned_run_halts_re_arms_stops_out_and_holds_back_trades() -> None:
    """The digest covers the risk engine's and the rationing's paths, not only quiet bars."""
    records = [json.loads(line) for line in _run()]
    kinds = {f"{event['kind']}:{event.get('rule', '')}" for record in records for event in record["events"]}
    assert {"halt:drawdown", "rearm:calm", "regime_change:"} <= kinds
    legs = [leg for record in records for leg in record["symbols"].values()]
    assert {"ok", "adjusted", "halted"} <= {leg["risk"]["status"] for leg in legs}
    assert any(leg["held"] for leg in legs)
    assert len({model["model_id"] for record in records for model in record["models"].values()}) > 4  # refits
