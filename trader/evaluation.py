"""Is the strategy any good? The ``evaluation`` section of a backtest's metrics.

Every comparison uses the strategy's decision bars and cost model (``trader.baselines``):

- baselines: buy-and-hold and a 200-day moving-average trend rule, with their metrics;
- random entry: 100 seeded reshuffles of the strategy's own holding segments, and where
  the strategy's Sharpe ranks among theirs (timing skill, not exposure, is what is tested);
- a moving-block bootstrap interval of the Sharpe difference against buy-and-hold;
- results per regime and per confidence bucket (``trader.breakdown``).

Everything is seeded: the same records give byte-identical numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.baselines import Costs, Path, buy_and_hold_targets, random_entry_targets, replay, replay_many, trend_targets
from trader.breakdown import by_confidence, by_regime
from trader.metrics import YEAR, performance

RANDOM_SEEDS = tuple(range(100))
BOOTSTRAP_SEED = 15
BOOTSTRAP_RESAMPLES = 1000
BLOCK_BARS = 20

Record = dict[str, Any]


def returns_of(equity: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bar-to-bar returns along the last axis."""
    return np.diff(equity, axis=-1) / equity[..., :-1]


def sharpe(returns: NDArray[np.float64]) -> NDArray[np.float64]:
    """Annualised Sharpe along the last axis, as ``trader.metrics.performance`` defines it (0 without volatility)."""
    mean = returns.mean(axis=-1) * YEAR
    vol = returns.std(axis=-1, ddof=1) * math.sqrt(YEAR) if returns.shape[-1] > 1 else np.zeros(returns.shape[:-1])
    return np.where(vol > 0, mean / np.where(vol > 0, vol, 1.0), 0.0)


def trading_costs(records: Sequence[Record]) -> dict[str, float]:
    """What the strategy's own fills cost, per year and in total."""
    equity = np.array([r["equity"] for r in records])
    years = len(records) / YEAR
    average = float(equity.mean())
    trades = sum(len(r["fills"]) for r in records)
    commission = sum(f["commission"] for r in records for f in r["fills"])
    slippage = sum(f["quantity"] * abs(f["price"] - r["bar"]["open"]) for r in records for f in r["fills"])
    traded = sum(f["quantity"] * f["price"] for r in records for f in r["fills"])
    return cost_summary(trades, commission, slippage, traded, average, years)


def cost_summary(
    trades: int, commission: float, slippage: float, traded: float, average_equity: float, years: float
) -> dict[str, float]:
    per_year = 1 / years if years else 0.0
    return {
        "trades": trades,
        "trades_per_year": trades * per_year,
        "turnover_per_year": traded / average_equity * per_year,
        "total_commission": commission,
        "total_slippage": slippage,
        "costs_pct_of_equity_per_year": 100 * (commission + slippage) / average_equity * per_year,
    }


def baseline_summary(name: str, description: str, path: Path) -> dict[str, Any]:
    """A replayed baseline's performance and what its trading cost."""
    years = len(path.equity) / YEAR
    average = float(path.equity.mean())
    return {
        "name": name,
        "description": description,
        **performance(path.equity.tolist()),
        **cost_summary(path.trades, path.commission, path.slippage, path.traded, average, years),
    }


def _percentile_rank(value: float, others: NDArray[np.float64]) -> float:
    """Share of ``others`` below ``value``, ties counted half, in percent."""
    below = float((others < value).sum())
    equal = float((others == value).sum())
    return 100 * (below + equal / 2) / len(others)


def random_entry(
    targets: Sequence[float], opens: NDArray[np.float64], closes: NDArray[np.float64], costs: Costs, strategy: float
) -> dict[str, Any]:
    """Where ``strategy`` (its Sharpe) ranks among the reshuffled holding segments."""
    paths = random_entry_targets(targets, RANDOM_SEEDS)
    equity, trades = replay_many(paths, opens, closes, costs)
    return rank_among(strategy, equity, trades)


def rank_among(strategy: float, equity: NDArray[np.float64], trades: NDArray[np.int64]) -> dict[str, Any]:
    """Where ``strategy`` (a Sharpe) ranks among the random-entry runs' equity curves (runs x bars)."""
    sharpes = sharpe(returns_of(equity))
    p5, median, p95 = np.percentile(sharpes, [5, 50, 95])
    return {
        "runs": len(RANDOM_SEEDS),
        "seeds": f"{RANDOM_SEEDS[0]}..{RANDOM_SEEDS[-1]}",
        "strategy_sharpe": strategy,
        "percentile": _percentile_rank(strategy, sharpes),
        "median_sharpe": float(median),
        "p5_sharpe": float(p5),
        "p95_sharpe": float(p95),
        "median_trades": float(np.median(trades)),
    }


def block_bootstrap_indices(n: int, resamples: int, block: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Moving-block resamples (resamples x n) of positions 0..n-1: blocks of ``block`` bars, random starts."""
    block = max(1, min(block, n))
    blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(resamples, blocks))
    return (starts[:, :, None] + np.arange(block)).reshape(resamples, blocks * block)[:, :n]


def sharpe_difference(strategy: NDArray[np.float64], benchmark: NDArray[np.float64]) -> dict[str, Any]:
    """Sharpe(strategy) - Sharpe(benchmark) from paired bar returns, with a 95% moving-block bootstrap interval."""
    point = float(sharpe(strategy) - sharpe(benchmark))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    differences = np.empty(BOOTSTRAP_RESAMPLES)
    chunk = 100  # resamples at a time: bounds memory on long series
    for start in range(0, BOOTSTRAP_RESAMPLES, chunk):
        index = block_bootstrap_indices(len(strategy), chunk, BLOCK_BARS, rng)
        differences[start : start + chunk] = sharpe(strategy[index]) - sharpe(benchmark[index])
    low, high = np.percentile(differences, [2.5, 97.5])
    return {
        "against": "buy_and_hold",
        "point": point,
        "ci95_low": float(low),
        "ci95_high": float(high),
        "strategy_wins_share": float((differences > 0).mean()),
        "resamples": BOOTSTRAP_RESAMPLES,
        "block_bars": BLOCK_BARS,
        "seed": BOOTSTRAP_SEED,
    }


def evaluate(records: Sequence[Record], closes: NDArray[np.float64], first: int, costs: Costs) -> dict[str, Any]:
    """The evaluation of ``records`` (consecutive decision bars); ``closes[first]`` is the first one's close.

    ``closes`` is the whole series the backtest ran on, so the trend rule can average the
    closes before the first decision.
    """
    if len(records) < 3:
        raise ValueError(f"{len(records)} decisions are too few to evaluate: at least 3 are needed")
    opens = np.array([r["bar"]["open"] for r in records])
    bar_closes = np.array([r["bar"]["close"] for r in records])
    approved = [float(r["risk"]["approved"]) for r in records]
    equity = np.array([r["equity"] for r in records])
    strategy_returns = returns_of(equity)
    hold = replay(buy_and_hold_targets(len(records)), opens, bar_closes, costs)
    trend = replay(trend_targets(closes, first, len(records)), opens, bar_closes, costs)
    market_returns = returns_of(bar_closes)
    return {
        "baselines": {
            "buy_and_hold": baseline_summary(
                "buy and hold", "100% long from the first decision's close (filled at the next open)", hold
            ),
            "trend_sma200": baseline_summary(
                "200-day moving average",
                "100% long while the close is above the mean of the last 200 closes, else flat",
                trend,
            ),
        },
        "random_entry": random_entry(approved, opens, bar_closes, costs, float(sharpe(strategy_returns))),
        "sharpe_difference": sharpe_difference(strategy_returns, returns_of(hold.equity)),
        "by_regime": by_regime(records, strategy_returns, market_returns),
        "by_confidence": by_confidence(records, strategy_returns, market_returns),
    }
