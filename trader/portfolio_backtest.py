"""A portfolio backtest: the engine over aligned bars of several symbols, with the paper broker.

The same engine and broker as a one-symbol backtest (``trader.backtest``); the bars are
first cut to the dates every series holds (``trader.portfolio_bars``). The metrics are the
book's (equity, gross exposure, costs), each symbol's share of them (its trades, costs,
exposure and contribution to the book's return), a benchmark that buys the same weights at
the first decision and holds them, and the ``evaluation`` (``trader.portfolio_evaluation``):
baselines per sleeve with the strategy's costs, the random-entry rank, a bootstrap interval
of the Sharpe difference, and results per regime and confidence for each model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trader.backtest import BacktestResult, Progress
from trader.bars import Bars
from trader.engine import Engine, EngineConfig
from trader.evaluation import cost_summary
from trader.metrics import YEAR, performance
from trader.model import RegimeModel
from trader.portfolio_bars import align
from trader.portfolio_evaluation import evaluate_portfolio

MIN_EVALUATED = 3  # decisions the evaluation needs (two returns for a volatility)


def run(config: EngineConfig, series: Mapping[str, Bars], *, progress: Progress | None = None) -> BacktestResult:
    aligned = align({symbol: series[symbol] for symbol in config.universe})
    bars = aligned.bars
    n = len(next(iter(bars.values())))
    engine = Engine(config)
    records: list[dict[str, Any]] = []
    models: dict[str, RegimeModel] = {}
    first = 0
    for t in range(n):
        if progress is not None and t % 50 == 0:
            progress(t, n)
        record = engine.on_bar(bars, t)
        if record is None:
            continue
        if not records:
            first = t
        records.append(record)
        for symbol, section in record["models"].items():  # the record holds each id: hashing a model is costly
            if section["model_id"] not in models:
                models[section["model_id"]] = engine.models()[symbol]
    if not records:
        raise ValueError(f"{n} common bars are not enough for a {config.training_window}-bar training window")
    if progress is not None:
        progress(n, n)
    metrics = evaluated_metrics(records, bars, first, config)
    metrics["dropped_bars"] = aligned.dropped
    return BacktestResult(records, metrics, models, first)


def evaluated_metrics(
    records: Sequence[dict[str, Any]], bars: Mapping[str, Bars], first: int, config: EngineConfig
) -> dict[str, Any]:
    """``assemble_metrics`` plus the ``evaluation``; ``records[0]`` is bar ``first`` of the aligned ``bars``.

    Fewer than 3 decisions cannot be evaluated: they get no ``evaluation`` rather than an error,
    so a short run (a parity check, a smoke test) still returns its records.
    """
    metrics = assemble_metrics(records, config)
    if len(records) >= MIN_EVALUATED:
        metrics["evaluation"] = evaluate_portfolio(records, bars, first, config)
    return metrics


def assemble_metrics(records: Sequence[dict[str, Any]], config: EngineConfig) -> dict[str, Any]:
    """The book's performance and costs, each symbol's trading, and a buy-and-hold of the same weights."""
    equity = [r["equity"] for r in records]
    gross = [sum(abs(leg["exposure"]) for leg in r["symbols"].values()) for r in records]
    strategy: dict[str, Any] = dict(performance(equity, gross))
    strategy.update(_costs(records, equity))
    return {
        "bars": len(records),
        "first_decision": records[0]["bar"]["date"],
        "last_decision": records[-1]["bar"]["date"],
        "strategy": strategy,
        "symbols": {symbol: _symbol_summary(records, symbol, config.weight(symbol)) for symbol in config.universe},
        "benchmark": {"name": "buy and hold, same weights", **performance(_held_weights(records, config))},
    }


def _costs(records: Sequence[dict[str, Any]], equity: Sequence[float]) -> dict[str, float]:
    fills = [(f, r["symbols"][f["symbol"]]["bar"]["open"]) for r in records for f in r["fills"]]
    commission = sum(f["commission"] for f, _ in fills)
    slippage = sum(f["quantity"] * abs(f["price"] - open_price) for f, open_price in fills)
    traded = sum(f["quantity"] * f["price"] for f, _ in fills)
    return cost_summary(len(fills), commission, slippage, traded, float(np.mean(equity)), len(records) / YEAR)


def _symbol_summary(records: Sequence[dict[str, Any]], symbol: str, weight: float) -> dict[str, Any]:
    """One symbol's trading, what it cost, and its profit as a share of the book's first equity.

    The profits of all symbols add up to the book's return over the records: cash earns
    nothing, so the book gains only what its positions gain, net of fills and commission.
    """
    fills = [(f, r["symbols"][symbol]["bar"]["open"]) for r in records for f in r["fills"] if f["symbol"] == symbol]
    later = [f for r in records[1:] for f in r["fills"] if f["symbol"] == symbol]  # records[0] is the baseline
    cash_flow = sum((-1 if f["side"] == "buy" else 1) * f["quantity"] * f["price"] - f["commission"] for f in later)
    first, last = records[0]["symbols"][symbol], records[-1]["symbols"][symbol]
    profit = last["position"] * last["bar"]["close"] - first["position"] * first["bar"]["close"] + cash_flow
    commission = sum(f["commission"] for f, _ in fills)
    slippage = sum(f["quantity"] * abs(f["price"] - open_price) for f, open_price in fills)
    return {
        "weight": weight,
        "trades": len(fills),
        "commission": commission,
        "slippage": slippage,
        "costs": commission + slippage,
        "average_exposure": float(np.mean([abs(r["symbols"][symbol]["exposure"]) for r in records])),
        "held_back": sum(1 for r in records if r["symbols"][symbol]["held"]),
        "profit": profit,
        "contribution": profit / records[0]["equity"],
    }


def _held_weights(records: Sequence[dict[str, Any]], config: EngineConfig) -> list[float]:
    """1 invested at the first decision's closes in the capital weights (the rest in cash), never rebalanced."""
    start = {s: leg["bar"]["close"] for s, leg in records[0]["symbols"].items()}
    cash = 1.0 - sum(config.weight(s) for s in config.universe)
    return [
        cash + sum(config.weight(s) * r["symbols"][s]["bar"]["close"] / start[s] for s in config.universe)
        for r in records
    ]
