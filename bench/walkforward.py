"""Benchmark: the full walk-forward backtest over S&P 500 1999-2018, warm against cold refits,
then the default profile (``examples/bot.json``, the wizard's defaults) on both bundled series.

K = 3, features log return + realised volatility, a 504-bar rolling window refitted every
21 bars (monthly). Warm refits start EM from the previous model only (cold restarts only
if that fails); cold refits run every restart each month. Same data, same run.

The default profile was chosen on the S&P 500 only (``bench/choose_default.py``); NASDAQ is
its holdout. For each: wall time, Sharpe against buy-and-hold's (after costs), maximum
drawdown, trades a year, and where its Sharpe ranks among 100 random-entry runs holding the
same exposures (``trader.evaluation``).

    ./dev bench walkforward
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from contracts.profile import BotProfile
from trader import backtest
from trader.bars import load_bundled
from trader.config import engine_config
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from trader.threads import limit_math_threads

DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "examples" / "bot.json"
CONFIG = EngineConfig(
    bot_id="bench",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=3, restarts=3),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 0.5, 1.0)),
    risk=RiskLimits(max_drawdown_pct=35),
    training_window=504,
    refit_every=21,
)


def main() -> None:
    limit_math_threads()  # as the bot runner, the backtest CLI and the agent do
    bars = load_bundled("sp500")
    rows = []
    for label, warm in (("warm refits", True), ("cold refits", False)):
        started = time.perf_counter()
        result = backtest.run(replace(CONFIG, warm_refits=warm), bars)
        seconds = time.perf_counter() - started
        strategy = result.metrics["strategy"]
        rows.append(
            (
                label,
                seconds,
                len(bars) / seconds,
                strategy["sharpe"],
                strategy["max_drawdown"],
                result.metrics["benchmark"]["sharpe"],
            )
        )
    print(f"S&P 500 {bars.dates[0]}..{bars.dates[-1]} ({len(bars)} bars), K=3, 504-bar window, refit every 21 bars")
    print(f"{'':<12}  {'wall s':>7}  {'bars/s':>7}  {'Sharpe':>6}  {'max DD':>6}  {'B&H Sharpe':>10}")
    for label, seconds, rate, sharpe, max_dd, bh in rows:
        print(f"{label:<12}  {seconds:>7.1f}  {rate:>7.0f}  {sharpe:>6.2f}  {max_dd:>6.1%}  {bh:>10.2f}")
    print(f"warm/cold speed-up: {rows[1][1] / rows[0][1]:.1f}x; goal: full walk-forward under 10 s")
    print()
    default_profile()


def default_profile() -> None:
    profile = BotProfile.model_validate(json.loads(DEFAULT_PROFILE.read_text()))
    config = engine_config(profile, bot_id="bench-default")
    print(f"default profile ({DEFAULT_PROFILE.name}): chosen on the S&P 500; NASDAQ is the holdout")
    print(
        f"{'series':<8} {'wall s':>6} {'Sharpe':>6} {'B&H':>5} {'diff 95% CI':>15} {'max DD':>6} {'B&H DD':>6} "
        f"{'tr/yr':>5} {'rank %':>6}"
    )
    for series in ("sp500", "nasdaq"):
        bars = load_bundled(series)
        started = time.perf_counter()
        result = backtest.run(config, bars)
        seconds = time.perf_counter() - started
        m = result.metrics
        strategy, evaluation = m["strategy"], m["evaluation"]
        hold = evaluation["baselines"]["buy_and_hold"]
        diff = evaluation["sharpe_difference"]
        interval = f"[{diff['ci95_low']:+.2f},{diff['ci95_high']:+.2f}]"
        print(
            f"{series:<8} {seconds:>6.1f} {strategy['sharpe']:>6.2f} {hold['sharpe']:>5.2f} {interval:>15} "
            f"{strategy['max_drawdown']:>6.1%} {hold['max_drawdown']:>6.1%} {strategy['trades_per_year']:>5.1f} "
            f"{evaluation['random_entry']['percentile']:>6.0f}"
        )


if __name__ == "__main__":
    main()
