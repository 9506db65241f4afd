"""The evaluation judges a strategy against baselines that trade on the same bars at the same costs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from typing import Any

import numpy as np
import pytest

from trader import backtest
from trader.bars import Bars, load_bundled
from trader.baselines import (
    Costs,
    holding_segments,
    random_entry_targets,
    replay,
    replay_many,
    trend_targets,
)
from trader.broker import Order, PaperBroker
from trader.engine import EngineConfig
from trader.evaluation import evaluate, returns_of, sharpe_difference, trading_costs
from trader.metrics import performance
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig

COSTS = Costs(starting_cash=100_000.0, slippage_bps=2.0, commission_bps=1.0)
CONFIG = EngineConfig(
    bot_id="eval-test",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.2, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=50, max_daily_loss_pct=10),
    training_window=150,
    refit_every=40,
)


@cache
def _engine_run() -> backtest.BacktestResult:
    return backtest.run(CONFIG, load_bundled("sp500").head(420))


def _trending_bars(n: int = 600, drift: float = 0.0008, seed: int = 3) -> Bars:
    """A seeded random walk with an upward drift: buy-and-hold makes money on it."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    dates = tuple(date(2000, 1, 3) + timedelta(days=i) for i in range(n))
    return Bars(dates, open_, np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998, close, np.ones(n))


def _records(
    bars: Bars, targets: list[float], *, regimes: list[int | None] | None = None, confidences: list[float] | None = None
) -> list[dict[str, Any]]:
    """Audit-like records of a strategy that approves ``targets``, traded through a PaperBroker like the engine."""
    broker = PaperBroker(cash=COSTS.starting_cash, slippage_bps=COSTS.slippage_bps, commission_bps=COSTS.commission_bps)
    records = []
    for i, target in enumerate(targets):
        day = str(bars.dates[i])
        fills = broker.fill_pending(float(bars.open[i]), day)
        close = float(bars.close[i])
        equity = broker.equity(close)
        delta = target * equity / close - broker.position
        if abs(delta) >= 1e-6:
            broker.submit(Order(f"o{i}", "SPX", "buy" if delta > 0 else "sell", abs(delta), day))
        records.append(
            {
                "bar": {"date": day, "open": float(bars.open[i]), "close": close},
                "regime": None if regimes is None else regimes[i],
                "confidence": 0.9 if confidences is None else confidences[i],
                "target": target,
                "risk": {"status": "ok", "approved": target, "reasons": []},
                "fills": [vars(f) for f in fills],
                "position": broker.position,
                "equity": equity,
            }
        )
    return records


def test_the_trend_baseline_equals_a_hand_computed_200_day_rule_at_the_same_costs() -> None:
    bars = load_bundled("sp500").head(900)
    first, n = 150, 750  # the first 49 decisions lack 200 closes: flat
    closes = [float(c) for c in bars.close]
    cash, position, pending = COSTS.starting_cash, 0.0, 0.0
    hand = []
    for t in range(first, first + n):
        if pending:
            side = 1.0 if pending > 0 else -1.0
            price = float(bars.open[t]) * (1 + side * COSTS.slippage_bps / 10_000)
            commission = abs(pending * price) * COSTS.commission_bps / 10_000
            cash -= pending * price + commission
            position += pending
        equity = cash + position * closes[t]
        hand.append(equity)
        long = t >= 199 and closes[t] > sum(closes[t - 199 : t + 1]) / 200
        delta = (1.0 if long else 0.0) * equity / closes[t] - position
        pending = delta if abs(delta) >= 1e-6 else 0.0

    targets = trend_targets(bars.close, first, n)
    path = replay(targets, bars.open[first : first + n], bars.close[first : first + n], COSTS)
    assert path.equity.tolist() == hand
    assert targets[:49].tolist() == [0.0] * 49 and 0 < targets.sum() < n
    records = _records(bars.slice(first, first + n), [1.0] * n)
    reported = evaluate(records, bars.close, first, COSTS)["baselines"]["trend_sma200"]
    assert reported["sharpe"] == performance(hand)["sharpe"]
    assert reported["cagr"] == performance(hand)["cagr"]


def test_the_fast_replay_equals_paper_broker_and_the_engine_on_the_strategys_own_path() -> None:
    records = _engine_run().records
    approved = [r["risk"]["approved"] for r in records]
    opens = np.array([r["bar"]["open"] for r in records])
    closes = np.array([r["bar"]["close"] for r in records])
    audited = [r["equity"] for r in records]
    one = replay(approved, opens, closes, COSTS)
    many, trades = replay_many(np.array([approved, approved]), opens, closes, COSTS)
    assert one.equity.tolist() == audited
    assert many[0].tolist() == audited and many[1].tolist() == audited
    assert one.trades == trades[0] == sum(len(r["fills"]) for r in records)
    assert len(set(approved)) > 1  # the path does change its target


def test_baselines_ration_trades_exactly_like_the_engine_band_and_holding_time_included() -> None:
    config = replace(CONFIG, rebalance_band=0.1, min_hold_bars=5)
    records = backtest.run(config, load_bundled("sp500").head(420)).records
    assert any(r["held"] for r in records), "the band or the holding time must hold some rebalance back"
    approved = [r["risk"]["approved"] for r in records]
    opens = np.array([r["bar"]["open"] for r in records])
    closes = np.array([r["bar"]["close"] for r in records])
    rationed = Costs(COSTS.starting_cash, COSTS.slippage_bps, COSTS.commission_bps, 0.1, 5)
    one = replay(approved, opens, closes, rationed)
    many, trades = replay_many(np.array([approved, approved]), opens, closes, rationed)
    audited = [r["equity"] for r in records]
    assert one.equity.tolist() == audited and many[0].tolist() == audited
    assert one.trades == trades[0] == sum(len(r["fills"]) for r in records)
    assert replay(approved, opens, closes, COSTS).trades > one.trades


def test_random_entry_keeps_the_exposure_multiset_and_the_number_of_target_changes() -> None:
    targets = [0.0] * 7 + [0.5] * 3 + [1.0] * 12 + [0.5] * 2 + [0.0] * 4 + [1.0] * 30 + [0.2] * 5 + [0.0] * 20
    original = holding_segments(targets)
    rows = random_entry_targets(targets, range(100))
    for row in rows:
        segments = holding_segments(row.tolist())
        assert sorted(row.tolist()) == sorted(targets)
        assert sorted(segments) == sorted(original)  # same levels, lengths and number of changes
    assert len({tuple(row) for row in rows}) > 50  # and the timing really is reshuffled
    assert (random_entry_targets(targets, range(100)) == rows).all()


def test_random_entry_finds_an_arrangement_when_one_level_holds_half_the_segments() -> None:
    targets = ([0.0] * 3 + [1.0] * 2 + [0.0] * 5 + [0.5]) * 20 + [0.0]
    for row in random_entry_targets(targets, range(30)):
        assert sorted(holding_segments(row.tolist())) == sorted(holding_segments(targets))


def test_the_bootstrap_interval_is_deterministic_and_contains_the_point_estimate() -> None:
    records = _engine_run().records
    equity = np.array([r["equity"] for r in records])
    closes = np.array([r["bar"]["close"] for r in records])
    first = sharpe_difference(returns_of(equity), returns_of(closes))
    assert first == sharpe_difference(returns_of(equity), returns_of(closes))
    assert first["ci95_low"] < first["point"] < first["ci95_high"]
    assert 0 < first["strategy_wins_share"] < 1 and first["resamples"] == 1000


def test_a_strategy_identical_to_buy_and_hold_differs_by_zero_and_ranks_in_the_middle() -> None:
    bars = _trending_bars()
    evaluation = evaluate(_records(bars, [1.0] * len(bars)), bars.close, 0, COSTS)
    difference, rank = evaluation["sharpe_difference"], evaluation["random_entry"]
    assert (difference["point"], difference["ci95_low"], difference["ci95_high"]) == (0.0, 0.0, 0.0)
    assert difference["strategy_wins_share"] == 0.0
    assert rank["percentile"] == 50.0 and rank["median_sharpe"] == rank["strategy_sharpe"]


def test_a_strategy_that_loses_money_has_a_negative_sharpe_difference() -> None:
    bars = _trending_bars()
    records = _records(bars, [-1.0] * len(bars))  # short a rising market
    assert records[-1]["equity"] < COSTS.starting_cash
    difference = evaluate(records, bars.close, 0, COSTS)["sharpe_difference"]
    assert difference["point"] < 0 and difference["ci95_high"] < 0 and difference["strategy_wins_share"] < 0.05


def test_a_strategy_that_knows_tomorrow_ranks_above_every_random_entry() -> None:
    bars = _trending_bars(drift=0.0)
    n = len(bars)
    targets = [1.0 if i + 1 < n and bars.close[i + 1] > bars.open[i + 1] * 1.001 else 0.0 for i in range(n)]
    evaluation = evaluate(_records(bars, targets), bars.close, 0, COSTS)
    assert evaluation["random_entry"]["percentile"] == 100.0
    assert evaluation["sharpe_difference"]["ci95_low"] > 0


def test_costs_add_up_from_the_fills() -> None:
    bars = _trending_bars(n=300)
    targets = [0.0, 1.0, 1.0, 0.5, 0.5, 0.0] * 50
    records = _records(bars, targets)
    costs = trading_costs(records)
    fills = [(f, r["bar"]["open"]) for r in records for f in r["fills"]]
    assert costs["trades"] == len(fills) and costs["trades_per_year"] == pytest.approx(len(fills) / (300 / 252))
    assert costs["total_commission"] == pytest.approx(sum(f["commission"] for f, _ in fills))
    assert costs["total_slippage"] == pytest.approx(sum(f["quantity"] * o * 2e-4 for f, o in fills))
    average = np.mean([r["equity"] for r in records])
    total = costs["total_commission"] + costs["total_slippage"]
    assert costs["costs_pct_of_equity_per_year"] == pytest.approx(100 * total / average / (300 / 252))


def test_results_per_regime_and_confidence_credit_each_decision_with_the_next_bar() -> None:
    bars = _trending_bars(n=200)
    regimes: list[int | None] = [None] * 10 + [0, 0, 1, 1, 1] * 38
    targets = [0.0 if r in (None, 0) else 1.0 for r in regimes]
    confidences = [0.55, 0.7, 0.9, 0.97, 1.0] * 40
    records = _records(bars, targets, regimes=regimes, confidences=confidences)
    evaluation = evaluate(records, bars.close, 0, COSTS)
    per_regime, per_bucket = evaluation["by_regime"], evaluation["by_confidence"]
    assert sum(g["bars"] for g in per_regime.values()) == len(records) - 1
    assert sum(g["time_share"] for g in per_regime.values()) == pytest.approx(1.0)
    market = np.diff(bars.close) / bars.close[:-1]
    in_one = [i for i in range(len(records) - 1) if regimes[i] == 1]
    assert per_regime["1"]["market_mean_daily_return"] == pytest.approx(market[in_one].mean())
    assert per_regime["1"]["market_annualised_return"] == pytest.approx(market[in_one].mean() * 252)
    assert per_regime["none"]["strategy_hit_rate"] is None  # flat: nothing at stake
    assert per_regime["none"]["strategy_mean_daily_return"] == 0.0
    assert list(per_bucket) == ["[0.50, 0.60)", "[0.60, 0.80)", "[0.80, 0.95)", "[0.95, 1.00]"]
    assert per_bucket["[0.95, 1.00]"]["bars"] == 2 * 40 - 1  # 0.97 and 1.0, minus the last decision


def test_every_backtest_reports_the_evaluation_with_strategy_costs() -> None:
    metrics = _engine_run().metrics
    sections = {"baselines", "random_entry", "sharpe_difference", "by_regime", "by_confidence"}
    assert set(metrics["evaluation"]) == sections
    assert set(metrics["evaluation"]["baselines"]) == {"buy_and_hold", "trend_sma200"}
    for key in ("turnover_per_year", "total_commission", "total_slippage", "costs_pct_of_equity_per_year"):
        assert metrics["strategy"][key] > 0
