"""``hmmtrade backtest``: run it with a progress bar, print strategy against buy-and-hold, or one error line."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

from trader.bars import BarDataError, Bars
from trader.history import HistorySpec, Keys, load_history
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
    key_id: str | None = None,
    secret_key: str | None = None,
) -> int:
    limit_math_threads()
    try:
        keys = history_keys(data, key_id, secret_key, dict(os.environ))
        bars = venue_history(data, keys, start=start, end=end) if keys is not None else load_bars(data)
        metrics = run_backtest(
            load_profile(profile_path),
            bars,
            out_dir,
            bot_id=bot_id,
            walk_forward=walk_forward,
            window=Window(start, end),
            progress=ProgressBar(sys.stderr),
        )
    except (BacktestInputError, BarDataError) as exc:
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


HISTORY_YEARS = 8  # the default span of a venue download: a 756-bar training window plus years to judge


def history_keys(data: str, key: str | None, secret: str | None, environ: dict[str, str]) -> Keys | None:
    """The venue keys for ``alpaca:``/``ccxt:`` data (flags, else Alpaca's own APCA_* variables); None otherwise."""
    spec = HistorySpec.parse(data)
    if spec is None:
        return None
    key = key or environ.get("APCA_API_KEY_ID") or environ.get("BROKER_API_KEY_ID") or environ.get("BROKER_API_KEY")
    secret = (
        secret
        or environ.get("APCA_API_SECRET_KEY")
        or environ.get("BROKER_API_SECRET_KEY")
        or environ.get("BROKER_API_SECRET")
    )
    if not key or not secret:
        raise BarDataError(
            f"--data {data} downloads from the venue: pass --key-id and --secret-key "
            "(or set APCA_API_KEY_ID and APCA_API_SECRET_KEY)"
        )
    return Keys(key, secret)


def venue_history(data: str, keys: Keys, *, start: date | None, end: date | None) -> Bars:
    from platformdirs import user_cache_dir

    spec = HistorySpec.parse(data)
    assert spec is not None
    last = end or date.today()
    first = date(last.year - HISTORY_YEARS, last.month, 1) if start is None else date(start.year - 4, 1, 1)
    cache = Path(os.environ.get("HMMTRADE_BARS_CACHE") or Path(user_cache_dir("hmmtrade")) / "bars")
    try:
        return load_history(spec, keys, start=first, end=last, cache_dir=cache, env=os.environ)
    except BarDataError as exc:
        raise BacktestInputError(str(exc)) from None
