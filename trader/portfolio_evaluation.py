"""Is a portfolio any good? The ``evaluation`` section of a portfolio backtest's metrics.

The same questions as ``trader.evaluation`` asks of one symbol, asked of the book:

- baselines: each symbol gets a sleeve of the starting cash at its capital weight, and
  buy-and-hold or the 200-day moving-average rule trades that sleeve with the strategy's
  slippage, commission, no-trade band and minimum holding time (``baselines.replay``);
  the book's equity is the sleeves' sum plus the cash no weight claims;
- random entry: each symbol's approved targets (as a share of its sleeve) are split into
  holding segments and reshuffled with the same 100 seeds; one seed's reshuffles, one per
  symbol, make one random book. With ``scope: reference`` every symbol moves on one model,
  so its segments line up and the same seed keeps them lined up;
- a moving-block bootstrap interval of the Sharpe difference against the buy-and-hold book;
- results per regime and per confidence, for each model (``models.<S>`` in the records),
  against the return of the series that model reads.

Both judge the no-trade band on a sleeve: a baseline on its sleeve's own equity, the engine on
the symbol's weight of the book's equity. They differ only as far as the sleeves drift from
their weights; with no band and no minimum hold a sleeve trades exactly as a one-symbol bot
with that cash would.
Everything is seeded: the same records give byte-identical numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.bars import Bars
from trader.baselines import Costs, Path, buy_and_hold_targets, random_entry_targets, replay, replay_many, trend_targets
from trader.breakdown import by_confidence, by_regime
from trader.engine import EngineConfig
from trader.evaluation import RANDOM_SEEDS, baseline_summary, rank_among, returns_of, sharpe, sharpe_difference

Record = dict[str, Any]


def sleeve_costs(config: EngineConfig) -> dict[str, Costs]:
    """Each symbol with a weight above 0: the strategy's costs and rationing on its share of the starting cash."""
    whole = Costs(
        config.starting_cash, config.slippage_bps, config.commission_bps, config.rebalance_band, config.min_hold_bars
    )
    return {
        s: replace(whole, starting_cash=config.starting_cash * config.weight(s))
        for s in config.universe
        if config.weight(s) > 0
    }


def idle_cash(config: EngineConfig) -> float:
    """The starting cash no symbol's weight claims: it stays in cash in every baseline."""
    return config.starting_cash - sum(c.starting_cash for c in sleeve_costs(config).values())


def _leg_prices(records: Sequence[Record], symbol: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    opens = np.array([r["symbols"][symbol]["bar"]["open"] for r in records])
    closes = np.array([r["symbols"][symbol]["bar"]["close"] for r in records])
    return opens, closes


def book_path(paths: Mapping[str, Path], idle: float) -> Path:
    """The sleeves added up: equity bar by bar (plus the idle cash), trades and costs."""
    sleeves = list(paths.values())
    return Path(
        idle + np.sum([p.equity for p in sleeves], axis=0),
        sum(p.trades for p in sleeves),
        sum(p.commission for p in sleeves),
        sum(p.slippage for p in sleeves),
        sum(p.traded for p in sleeves),
    )


def baseline_books(
    records: Sequence[Record], series: Mapping[str, Bars], first: int, config: EngineConfig
) -> dict[str, Path]:
    """Buy-and-hold and the 200-day rule, each replayed per sleeve and summed into a book."""
    n, idle = len(records), idle_cash(config)
    hold: dict[str, Path] = {}
    trend: dict[str, Path] = {}
    for symbol, costs in sleeve_costs(config).items():
        opens, closes = _leg_prices(records, symbol)
        hold[symbol] = replay(buy_and_hold_targets(n), opens, closes, costs)
        trend[symbol] = replay(trend_targets(series[symbol].close, first, n), opens, closes, costs)
    return {"buy_and_hold": book_path(hold, idle), "trend_sma200": book_path(trend, idle)}


def sleeve_targets(records: Sequence[Record], symbol: str, weight: float) -> list[float]:
    """The strategy's approved target for ``symbol`` (a share of the book) as a share of its sleeve."""
    return [r["symbols"][symbol]["risk"]["approved"] / weight for r in records]


def random_books(records: Sequence[Record], config: EngineConfig) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The random-entry books (runs x bars) and their trades: per seed, every sleeve's reshuffle summed."""
    equity = np.full((len(RANDOM_SEEDS), len(records)), idle_cash(config))
    trades = np.zeros(len(RANDOM_SEEDS), dtype=np.int64)
    for symbol, costs in sleeve_costs(config).items():
        opens, closes = _leg_prices(records, symbol)
        paths = random_entry_targets(sleeve_targets(records, symbol, config.weight(symbol)), RANDOM_SEEDS)
        sleeve_equity, sleeve_trades = replay_many(paths, opens, closes, costs)
        equity += sleeve_equity
        trades += sleeve_trades
    return equity, trades


def _model_view(records: Sequence[Record], model: str) -> list[Record]:
    """One model's regime and confidence per record, in the flat shape ``trader.breakdown`` reads."""
    return [{"regime": r["models"][model]["regime"], "confidence": r["models"][model]["confidence"]} for r in records]


def evaluate_portfolio(
    records: Sequence[Record], series: Mapping[str, Bars], first: int, config: EngineConfig
) -> dict[str, Any]:
    """The evaluation of a portfolio's ``records`` (consecutive decisions; the first is bar ``first`` of ``series``).

    ``series`` is every symbol's aligned bars as the backtest ran them, so the trend rule can
    average the closes before the first decision.
    """
    if len(records) < 3:
        raise ValueError(f"{len(records)} decisions are too few to evaluate: at least 3 are needed")
    books = baseline_books(records, series, first, config)
    strategy_returns = returns_of(np.array([r["equity"] for r in records]))
    strategy_sharpe = float(sharpe(strategy_returns))
    by_model: dict[str, dict[str, Any]] = {}
    for model in records[0]["models"]:
        view = _model_view(records, model)
        market = returns_of(np.array([r["symbols"][model]["bar"]["close"] for r in records]))
        by_model[model] = {
            "by_regime": by_regime(view, strategy_returns, market),
            "by_confidence": by_confidence(view, strategy_returns, market),
        }
    weights = ", ".join(f"{s} {config.weight(s):.0%}" for s in config.universe)
    return {
        "baselines": {
            "buy_and_hold": baseline_summary(
                "buy and hold",
                f"each symbol's sleeve ({weights}) fully long from the first decision's close, never rebalanced",
                books["buy_and_hold"],
            ),
            "trend_sma200": baseline_summary(
                "200-day moving average",
                "each sleeve 100% long while its close is above the mean of its last 200 closes, else flat",
                books["trend_sma200"],
            ),
        },
        "random_entry": rank_among(strategy_sharpe, *random_books(records, config)),
        "sharpe_difference": sharpe_difference(strategy_returns, returns_of(books["buy_and_hold"].equity)),
        "by_model": by_model,
    }
