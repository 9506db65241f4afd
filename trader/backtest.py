"""Backtest = the engine + replayed bars + the paper broker, with walk-forward refits.

Returns every audit record and the metrics, with buy-and-hold of the same bars (from the
first decision to the end, before costs) side by side as the ``benchmark``, and the
``evaluation`` (``trader.evaluation``): baselines with the strategy's costs, the random-entry
rank, a bootstrap interval of the Sharpe difference, results per regime and confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.bars import Bars
from trader.baselines import Costs
from trader.engine import Engine, EngineConfig
from trader.evaluation import evaluate, trading_costs
from trader.metrics import performance
from trader.model import RegimeModel


@dataclass(frozen=True)
class BacktestResult:
    records: list[dict[str, Any]]
    metrics: dict[str, Any]
    models: dict[str, RegimeModel]
    first_bar: int = 0  # the index in the run's bars of the first decision


Progress = Callable[[int, int], None]  # (bars done, bars in all)


def run(config: EngineConfig, bars: Bars, *, progress: Progress | None = None) -> BacktestResult:
    engine = Engine(config)
    records: list[dict[str, Any]] = []
    models: dict[str, RegimeModel] = {}
    first = 0  # the bar index of the first decision
    for t in range(len(bars)):
        if progress is not None and t % 50 == 0:
            progress(t, len(bars))
        record = engine.on_bar(bars, t)
        if progress is not None:
            progress(t + 1, len(bars))
        if record is None:
            continue
        if not records:
            first = t
        records.append(record)
        if engine.state.model is not None and record["model_id"] not in models:
            models[record["model_id"]] = engine.state.model
    if not records:
        raise ValueError(f"{len(bars)} bars are not enough for a {config.training_window}-bar training window")
    metrics = assemble_metrics(records, bars.close, first, config)
    if progress is not None:
        progress(len(bars), len(bars))
    return BacktestResult(records, metrics, models, first)


def assemble_metrics(
    records: Sequence[dict[str, Any]], closes: NDArray[np.float64], first: int, config: EngineConfig
) -> dict[str, Any]:
    """Metrics of consecutive decision ``records``, whose first is bar ``first`` of the run's ``closes``."""
    equity = [r["equity"] for r in records]
    exposure = [r["position"] * r["bar"]["close"] / r["equity"] for r in records]
    shares: dict[str, float] = {}
    for r in records:
        key = str(r["regime"])
        shares[key] = shares.get(key, 0.0) + 1 / len(records)
    strategy: dict[str, Any] = dict(performance(equity, exposure))
    strategy.update(trading_costs(records))
    strategy["regime_time_share"] = shares
    costs = Costs(
        config.starting_cash, config.slippage_bps, config.commission_bps, config.rebalance_band, config.min_hold_bars
    )
    return {
        "bars": len(records),
        "first_decision": records[0]["bar"]["date"],
        "last_decision": records[-1]["bar"]["date"],
        "strategy": strategy,
        "benchmark": {"name": "buy and hold", **performance([r["bar"]["close"] for r in records])},
        "evaluation": evaluate(records, closes, first, costs),
    }
