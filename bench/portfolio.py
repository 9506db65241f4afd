"""Benchmark: what a portfolio backtest costs against a one-symbol one, by size and scope.

Each row runs the same engine over ``--bars`` synthetic daily bars (``venues.daily.synthetic_bars``)
for 1, 5 and 20 symbols, with one model on a reference series or one model per symbol (a
fit per symbol at each refit). The baseline, measured in the same run, is the one-symbol
backtest. The ratio says what a hosted VM must afford for a 20-symbol bot.

    ./dev bench portfolio [--bars 500] [--sizes 1 5 20]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

from trader import backtest, portfolio_backtest
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from venues.daily import synthetic_bars

BASE = EngineConfig(
    bot_id="bench-portfolio",
    symbol="S00",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=20, max_daily_loss_pct=5, rearm="calm", rearm_calm_bars=5),
    training_window=150,
    refit_every=40,
)


def _seconds(size: int, scope: str, n: int) -> tuple[float, int]:
    symbols = tuple(f"S{i:02d}" for i in range(size))
    bars = {s: synthetic_bars(11, n, s).bars for s in symbols}
    start = time.perf_counter()
    if size == 1:
        records = backtest.run(BASE, bars["S00"]).records
    else:
        config = replace(BASE, symbols=symbols, scope="per_symbol" if scope == "per_symbol" else "reference")
        records = portfolio_backtest.run(config, bars).records
    return time.perf_counter() - start, len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 20])
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    baseline, decisions = _seconds(1, "reference", args.bars)
    print(f"{args.bars} synthetic daily bars, {decisions} decisions; baseline: one symbol, {baseline:.2f} s")
    print(f"{'symbols':>7}  {'scope':<10}  {'seconds':>8}  {'x baseline':>10}  {'ms/decision':>11}")
    for size in args.sizes:
        for scope in ("reference", "per_symbol") if size > 1 else ("reference",):
            seconds, decisions = _seconds(size, scope, args.bars)
            per = 1000 * seconds / decisions
            print(f"{size:>7}  {scope:<10}  {seconds:>8.2f}  {seconds / baseline:>10.1f}  {per:>11.2f}")


if __name__ == "__main__":
    main()
