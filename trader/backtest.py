"""Backtest = the engine + replayed bars + the paper broker, with walk-forward refits.

Returns every audit record and the metrics, with buy-and-hold of the same bars (from the
first decision to the end) side by side as the ``benchmark``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trader.bars import Bars
from trader.engine import Engine, EngineConfig
from trader.metrics import performance
from trader.model import RegimeModel


@dataclass(frozen=True)
class BacktestResult:
    records: list[dict[str, Any]]
    metrics: dict[str, Any]
    models: dict[str, RegimeModel]


Progress = Callable[[int, int], None]  # (bars done, bars in all)


def run(config: EngineConfig, bars: Bars, *, progress: Progress | None = None) -> BacktestResult:
    engine = Engine(config)
    records: list[dict[str, Any]] = []
    models: dict[str, RegimeModel] = {}
    for t in range(len(bars)):
        if progress is not None and t % 50 == 0:
            progress(t, len(bars))
        record = engine.on_bar(bars, t)
        if progress is not None:
            progress(t + 1, len(bars))
        if record is None:
            continue
        records.append(record)
        if engine.state.model is not None and record["model_id"] not in models:
            models[record["model_id"]] = engine.state.model
    if not records:
        raise ValueError(f"{len(bars)} bars are not enough for a {config.training_window}-bar training window")
    equity = [r["equity"] for r in records]
    exposure = [r["position"] * r["bar"]["close"] / r["equity"] for r in records]
    closes = [r["bar"]["close"] for r in records]
    trades = sum(len(r["fills"]) for r in records)
    traded = sum(f["quantity"] * f["price"] for r in records for f in r["fills"])
    years = len(records) / 252
    shares: dict[str, float] = {}
    for r in records:
        key = str(r["regime"])
        shares[key] = shares.get(key, 0.0) + 1 / len(records)
    strategy: dict[str, Any] = dict(performance(equity, exposure))
    strategy.update(
        {
            "trades": trades,
            "turnover_per_year": traded / (sum(equity) / len(equity)) / years if years else 0.0,
            "regime_time_share": shares,
        }
    )
    metrics = {
        "bars": len(records),
        "first_decision": records[0]["bar"]["date"],
        "last_decision": records[-1]["bar"]["date"],
        "strategy": strategy,
        "benchmark": {"name": "buy and hold", **performance(closes)},
    }
    if progress is not None:
        progress(len(bars), len(bars))
    return BacktestResult(records, metrics, models)
