"""Fewer, better trades; halts that re-arm; every decision says what changed and how sure the model is."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from trader import backtest, checkpoint
from trader.bars import Bars, load_bundled
from trader.engine import Engine, EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig

CONFIG = EngineConfig(
    bot_id="quality-bot",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=3, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 0.5, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=8, max_daily_loss_pct=10, rearm="calm", rearm_calm_bars=5),
    training_window=200,
    refit_every=42,
)


@cache
def _bars() -> Bars:
    return load_bundled("sp500").head(900)  # 1999-2002: the dot-com bear market halts an 8% limit


@cache
def _records(band: float = 0.0, min_hold: int = 0) -> list[dict[str, Any]]:
    return backtest.run(replace(CONFIG, rebalance_band=band, min_hold_bars=min_hold), _bars()).records


def _exposure(record: dict[str, Any]) -> float:
    return record["position"] * record["bar"]["close"] / record["equity"]


def test_the_no_trade_band_trades_only_beyond_it_and_never_holds_back_an_exit() -> None:
    every_bar, banded = _records(), _records(band=0.1)
    assert sum(len(r["orders"]) for r in banded) < sum(len(r["orders"]) for r in every_bar) / 3
    for record in banded:
        gap = abs(record["risk"]["approved"] - _exposure(record))
        if record["orders"]:
            assert record["risk"]["approved"] == 0.0 or gap > 0.1 or record["risk"]["status"] != "ok"
        elif record["held"]:
            assert "no-trade band" in record["held"] and gap <= 0.1 and record["risk"]["approved"] != 0.0
        if record["risk"]["approved"] == 0.0 and abs(record["position"]) > 0:
            assert record["orders"], f"{record['bar']['date']}: going flat was held back"


def test_the_minimum_holding_time_spaces_trades_except_exits_and_halts() -> None:
    records = _records(band=0.0, min_hold=10)
    traded = [i for i, r in enumerate(records) if r["orders"]]
    for a, b in itertools.pairwise(traded):
        record = records[b]
        forced = record["risk"]["approved"] == 0.0 or record["risk"]["status"] in ("halted", "killed")
        assert b - a >= 10 or forced, f"trades {a} and {b} are {b - a} bars apart"
    assert any("minimum holding time" in (r["held"] or "") for r in records)


def test_regime_change_events_match_the_regimes_in_the_records() -> None:
    records = _records()
    previous = None
    for record in records:
        changes = [e for e in record["events"] if e["kind"] == "regime_change"]
        if record["regime"] is not None and record["regime"] != previous:
            assert changes == [{"kind": "regime_change", "from": previous, "to": record["regime"]}]
        else:
            assert changes == []
        previous = record["regime"] if record["regime"] is not None else previous


def test_a_halt_in_the_bear_market_re_arms_and_the_bot_trades_again() -> None:
    records = _records(band=0.1)
    halts = [i for i, r in enumerate(records) for e in r["events"] if e["kind"] == "halt" and e["rule"] == "drawdown"]
    rearms = [i for i, r in enumerate(records) for e in r["events"] if e["kind"] == "rearm" and e["rule"] == "calm"]
    assert halts and rearms and rearms[0] > halts[0]
    for halt in halts:
        after = [i for i in rearms if i > halt]
        if after:
            assert all(records[i]["risk"]["approved"] == 0.0 for i in range(halt, after[0]))
            assert any(abs(_exposure(r)) > 0 for r in records[after[0] + 1 :]), "re-armed but never traded again"
    reasons = [r["risk"]["reasons"][0] for r in records if r["risk"]["status"] == "halted"]
    assert any("calm bars" in reason for reason in reasons)


def test_a_manual_halt_stays_flat_to_the_end_and_says_so() -> None:
    config = replace(CONFIG, risk=replace(CONFIG.risk, rearm="manual"))
    records = backtest.run(config, _bars()).records
    first = next(i for i, r in enumerate(records) if any(e["kind"] == "halt" for e in r["events"]))
    tail = records[first:]
    assert all(r["risk"]["status"] == "killed" and r["risk"]["approved"] == 0.0 for r in tail)
    assert all(r["position"] == 0.0 for r in tail[1:])  # flattened at the next open
    assert not any(e["kind"] == "rearm" and e["rule"] != "next_day" for r in tail for e in r["events"])


def test_every_decision_carries_a_drift_signal() -> None:
    for record in _records():
        drift = record["drift"]
        assert 0.0 <= drift["entropy"] <= 1.0 + 1e-9
        assert drift["unusual"] == (drift["surprise"] > 3.0)
    surprises = np.array([r["drift"]["surprise"] for r in _records()])
    assert abs(np.median(surprises)) < 1.0, "a typical bar is about as likely as a training bar"
    assert surprises.max() > 3.0, "the 2001-2002 crashes include bars the model finds very unusual"


AUTO = replace(
    CONFIG,
    fit=FitOptions(n_states=2, restarts=1, auto_states=(2, 3)),
    rebalance_band=0.1,
    min_hold_bars=3,
)


def test_new_features_keep_decisions_free_of_later_bars() -> None:
    bars = _bars().head(600)
    original = backtest.run(AUTO, bars).records
    t = 520
    scale = np.where(np.arange(len(bars)) > t, np.linspace(0.6, 1.4, len(bars)), 1.0)
    altered = Bars(bars.dates, bars.open * scale, bars.high * scale, bars.low * scale, bars.close * scale, bars.volume)
    changed = backtest.run(AUTO, altered).records
    cut = str(bars.dates[t])
    before = [r for r in original if r["bar"]["date"] <= cut]
    assert before and before == [r for r in changed if r["bar"]["date"] <= cut]
    assert {r["n_states"] for r in original} <= {2, 3}


def test_new_features_are_byte_identical_on_a_rerun_and_across_a_checkpoint_restore() -> None:
    bars = _bars().head(600)
    straight = backtest.run(AUTO, bars).records
    assert json.dumps(straight, sort_keys=True) == json.dumps(backtest.run(AUTO, bars).records, sort_keys=True)
    engine = Engine(AUTO)
    resumed: list[dict[str, Any]] = []
    for t in range(len(bars)):
        if t == 450:  # a restart mid-run, through the checkpoint's JSON
            saved = json.loads(json.dumps(checkpoint.to_json(checkpoint.Checkpoint(engine.state, t, None, None))))
            engine = Engine(AUTO, checkpoint.from_json(saved).state)
        record = engine.on_bar(bars, t)
        if record is not None:
            resumed.append(record)
    assert json.dumps(resumed, sort_keys=True) == json.dumps(straight, sort_keys=True)


def test_a_checkpoint_from_before_re_arming_halts_restores_its_kill_as_a_halt() -> None:
    engine = Engine(CONFIG)
    data = checkpoint.to_json(checkpoint.Checkpoint(engine.state, 0, None, None))
    risk = data["risk"]
    for key in ("drawdown_halt", "halt_equity", "calm_streak", "shadow_equity", "shadow_price", "shadow_target",
                "rearm_requested"):  # fmt: skip
        del risk[key]
    risk["killed"] = True
    del data["last_trade_seq"], data["warm_models"]
    restored = checkpoint.from_json(data).state
    assert restored.risk.drawdown_halt is True and restored.last_trade_seq is None
