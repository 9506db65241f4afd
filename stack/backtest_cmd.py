"""``hmmtrade backtest``: run it with a progress bar, print strategy against buy-and-hold, or one error line."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TextIO

from trader.report import BacktestInputError, Window, load_bars, load_profile, run_backtest
from trader.report_html import METRIC_ROWS
from trader.threads import limit_math_threads


class ProgressBar:
    """``[#####.....]  52%`` redrawn in place on a terminal; silent when output is piped."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self._out, self._width = out, width
        self._enabled = out.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        filled = self._width * done // max(1, total)
        self._out.write(
            f"\r[{'#' * filled}{'.' * (self._width - filled)}] {done / max(1, total):4.0%}  {done}/{total} bars"
        )
        if done >= total:
            self._out.write("\n")
        self._out.flush()


def run_backtest_command(
    data: str,
    profile_path: Path,
    out_dir: Path,
    *,
    bot_id: str,
    walk_forward: bool,
    start: date | None,
    end: date | None,
) -> int:
    limit_math_threads()
    try:
        metrics = run_backtest(
            load_profile(profile_path),
            load_bars(data),
            out_dir,
            bot_id=bot_id,
            walk_forward=walk_forward,
            window=Window(start, end),
            progress=ProgressBar(sys.stderr),
        )
    except BacktestInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    strategy, hold = metrics["strategy"], metrics["benchmark"]
    span = f"{metrics['first_decision']} .. {metrics['last_decision']}"
    print(f"{data}: {span} ({metrics['bars']} decisions, {metrics['mode']})")
    print(f"{'':<18}{'strategy':>10}{'buy & hold':>12}")
    for title, key, fmt in METRIC_ROWS:
        print(f"{title:<18}{fmt.format(strategy[key]):>10}{fmt.format(hold[key]):>12}")
    print(f"trades {strategy['trades']}, average exposure {strategy['average_exposure']:.0%}; written to {out_dir}/")
    print(f"report: {out_dir / 'report.html'}")
    return 0
