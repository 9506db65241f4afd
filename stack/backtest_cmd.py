"""``hmmtrade backtest``: run it, print strategy against buy-and-hold, or one error line."""

from __future__ import annotations

import sys
from pathlib import Path

from trader.report import BacktestInputError, load_bars, load_profile, run_backtest

_ROWS = (
    ("CAGR", "cagr", "{:.2%}"),
    ("volatility", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("Calmar", "calmar", "{:.2f}"),
)


def run_backtest_command(data: str, profile_path: Path, out_dir: Path, *, bot_id: str) -> int:
    try:
        metrics = run_backtest(load_profile(profile_path), load_bars(data), out_dir, bot_id=bot_id)
    except BacktestInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    strategy, hold = metrics["strategy"], metrics["buy_and_hold"]
    print(f"{data}: {metrics['first_decision']} .. {metrics['last_decision']} ({metrics['bars']} decisions)")
    print(f"{'':<14}{'strategy':>10}{'buy & hold':>12}")
    for title, key, fmt in _ROWS:
        print(f"{title:<14}{fmt.format(strategy[key]):>10}{fmt.format(hold[key]):>12}")
    print(f"trades {strategy['trades']}, average exposure {strategy['average_exposure']:.0%}; written to {out_dir}/")
    return 0
