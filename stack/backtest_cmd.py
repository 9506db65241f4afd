"""``hmmtrade backtest``: run it with a progress bar, print strategy against buy-and-hold, or one error line."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from trader.bars import BarDataError, Bars
from trader.history import HistorySpec, Keys, load_history
from trader.report import BacktestInputError, Window, load_inputs, load_profile, run_backtest
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
    data: str | None,
    profile_path: Path,
    out_dir: Path,
    *,
    bot_id: str,
    walk_forward: bool,
    start: date | None,
    end: date | None,
    holdout_from: date | None = None,
    reveal_holdout: bool = False,
    key_id: str | None = None,
    secret_key: str | None = None,
) -> int:
    limit_math_threads()
    try:
        profile = load_profile(profile_path)
        keys = history_keys(data, key_id, secret_key, dict(os.environ)) if data is not None else None
        if keys is not None and data is not None and len(profile.market.symbols) == 1:
            bars: Bars | dict[str, Bars] = venue_history(data, keys, start=start, end=end)
        else:
            bars = load_inputs(profile, data)
        metrics = run_backtest(
            profile,
            bars,
            out_dir,
            bot_id=bot_id,
            walk_forward=walk_forward,
            window=Window(start, end, holdout_from, reveal_holdout),
            progress=ProgressBar(sys.stderr),
        )
    except (BacktestInputError, BarDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    strategy, hold = metrics["strategy"], metrics["benchmark"]
    span = f"{metrics['first_decision']} .. {metrics['last_decision']}"
    source = data or ("the profile's data" if "symbols" in metrics else "sp500")
    print(f"{source}: {span} ({metrics['bars']} decisions, {metrics['mode']})")
    held = "b&h weights" if "symbols" in metrics else "buy & hold"  # a portfolio's: the same weights, held
    print(f"{'':<18}{'strategy':>10}{held:>12}")
    for title, key, fmt in METRIC_ROWS:
        print(f"{title:<18}{fmt.format(strategy[key]):>10}{fmt.format(hold[key]):>12}")
    print(
        f"trades {strategy['trades']} ({strategy['trades_per_year']:.1f} a year), average exposure "
        f"{strategy['average_exposure']:.0%}, costs {strategy['costs_pct_of_equity_per_year']:.2f}% of equity a year"
    )
    for line in symbol_lines(metrics.get("symbols", {})):
        print(line)
    for line in evaluation_lines(metrics["evaluation"]):
        print(line)
    holdout = metrics.get("holdout")
    if holdout is not None and not holdout["revealed"]:
        print(f"holdout: {holdout['note']}")
    elif holdout is not None:
        for part, title in (("in_sample", f"in sample (before {holdout['from']})"), ("holdout", "holdout")):
            section = holdout[part]
            print(f"{title}: {section['first_decision']} .. {section['last_decision']} ({section['bars']} decisions)")
            for line in evaluation_lines(section["evaluation"], sharpe=section["strategy"]["sharpe"]):
                print(f"  {line}")
    print(f"written to {out_dir}/; report: {out_dir / 'report.html'}")
    return 0


def symbol_lines(symbols: dict[str, dict[str, Any]]) -> list[str]:
    """A portfolio's line per symbol: weight, trades, costs, exposure and contribution to the return."""
    return [
        f"{symbol:<10} weight {leg['weight']:.0%}, {leg['trades']} trades, costs {leg['costs']:,.2f}, "
        f"average exposure {leg['average_exposure']:.0%}, contribution {leg['contribution']:+.2%}"
        for symbol, leg in symbols.items()
    ]


def evaluation_lines(evaluation: dict[str, Any], *, sharpe: float | None = None) -> list[str]:
    """The evaluation in three lines: the trend baseline, the random-entry rank, the bootstrap interval."""
    trend, rank = evaluation["baselines"]["trend_sma200"], evaluation["random_entry"]
    diff = evaluation["sharpe_difference"]
    lines = [] if sharpe is None else [f"Sharpe {sharpe:.2f}"]
    return [
        *lines,
        f"200-day MA baseline: Sharpe {trend['sharpe']:.2f}, CAGR {trend['cagr']:.2%} (same bars and costs)",
        f"random entry ({rank['runs']} runs): the strategy's Sharpe beats {rank['percentile']:.0f}% of them "
        f"(median {rank['median_sharpe']:.2f}, 5th-95th {rank['p5_sharpe']:.2f} .. {rank['p95_sharpe']:.2f})",
        f"Sharpe minus buy & hold: {diff['point']:+.2f}, 95% interval {diff['ci95_low']:+.2f} .. "
        f"{diff['ci95_high']:+.2f}; ahead in {diff['strategy_wins_share']:.0%} of resamples",
    ]


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
