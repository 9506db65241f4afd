"""``hmmtrade backtest``: run a profile over bars and write audit.jsonl, metrics.json, models/
and report.html.

A profile with one symbol runs ``trader.backtest`` over one series. A portfolio (2-20
symbols) runs ``trader.portfolio_backtest`` over one series per symbol, read from the
profile's ``market`` section (``load_series``) and cut to their common dates; the window and
the holdout cut are dates, so they cut every symbol at the same bar.

Every expected failure (bad profile, bad data, too little data, a model the data cannot
support) becomes ``BacktestInputError`` with one line that says what to fix.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contracts.profile import BUNDLED_SERIES, BotProfile
from trader import backtest, features, portfolio_backtest
from trader.audit import JsonlSink, encode
from trader.bars import BUNDLED, BarDataError, Bars, load_bundled, load_file
from trader.config import engine_config
from trader.engine import EngineConfig
from trader.features import FeatureError
from trader.model import DegenerateFit
from trader.portfolio_bars import align
from trader.report_html import report_exposures, write_report
from trader.report_html_portfolio import write_portfolio_report

NEVER = 10**9  # a refit cadence no series reaches: one fit, then the filter alone


class BacktestInputError(Exception):
    """One line for the user; no traceback."""


@dataclass(frozen=True)
class Window:
    """Which decisions to make: from ``start`` (the history before it trains the model) to ``end``.

    ``holdout_from`` keeps the bars from that date on unseen: they are neither run nor
    reported, unless ``reveal_holdout`` runs through them and reports them apart.
    """

    start: date | None = None
    end: date | None = None
    holdout_from: date | None = None
    reveal_holdout: bool = False


def load_bars(data: str) -> Bars:
    try:
        return load_bundled(data) if data in BUNDLED else load_file(Path(data))
    except BarDataError as exc:
        raise BacktestInputError(str(exc)) from None


def load_series(profile: BotProfile) -> dict[str, Bars]:
    """Each symbol's bars as the profile's ``market`` names them: a bundled series or one file per symbol.

    The series are returned as read (not aligned): ``run_backtest`` aligns them and reports
    the bars it dropped.
    """
    market = profile.market
    try:
        if market.data_source == "file":
            return {symbol: load_file(Path(path)) for symbol, path in market.files().items()}
        if all(symbol in BUNDLED_SERIES for symbol in market.symbols) and market.data_source != "broker":
            return {symbol: load_bundled(BUNDLED_SERIES[symbol]) for symbol in market.symbols}
    except BarDataError as exc:
        raise BacktestInputError(str(exc)) from None
    raise BacktestInputError(
        f"market.data_source {market.data_source!r}: a portfolio backtest reads bundled data (SPY, QQQ) or one "
        "file per symbol: set data_source 'file' and data_file with {symbol} in the path (e.g. data/{symbol}.csv)"
    )


def load_inputs(profile: BotProfile, data: str | None) -> Bars | dict[str, Bars]:
    """What ``run_backtest`` runs on: the ``data`` series for one symbol (default sp500), each symbol's for a portfolio.

    A portfolio reads its series from its profile; ``data`` may only be left out (or say
    ``profile``), or say ``bundled`` (which the profile must then use too).
    """
    symbols = profile.market.symbols
    if len(symbols) == 1:
        if data == "bundled":
            return load_series(profile)[symbols[0]]
        return load_bars(data or "sp500")
    if data not in (None, "profile", "bundled"):
        raise BacktestInputError(
            f"data {data}: the portfolio {', '.join(symbols)} reads each symbol's bars from the profile's "
            f"market.data_source ({profile.market.data_source}); leave out --data (or pick 'bundled')"
        )
    if data == "bundled" and profile.market.data_source not in ("bundled", "sp500", "nasdaq"):
        raise BacktestInputError(
            f"data bundled: the profile reads market.data_source {profile.market.data_source!r}; "
            "leave out --data to use it, or set data_source 'bundled'"
        )
    return load_series(profile)


def load_profile(path: Path) -> BotProfile:
    """A wizard profile from JSON or YAML (``.yaml``/``.yml``)."""
    try:
        text = path.read_text()
        document = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
        return BotProfile.model_validate(document)
    except OSError as exc:
        raise BacktestInputError(f"{path}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise BacktestInputError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'} ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "profile"
        raise BacktestInputError(f"{path}: {where}: {first['msg']}") from None


def select(bars: Bars, config: EngineConfig, window: Window) -> Bars:
    """The bars to run so that the first decision falls on ``window.start`` and the last on ``window.end``.

    Before the first decision the engine needs its feature warm-up plus one training
    window; they are taken from the data before ``window.start``.
    """
    return bars.slice(*_selected_span(bars, config, window))


def _selected_span(bars: Bars, config: EngineConfig, window: Window) -> tuple[int, int]:
    """``select``'s bars as (first index, end index)."""
    end = len(bars) if window.end is None else bisect.bisect_right(bars.dates, window.end)
    if end == 0:
        raise BacktestInputError(f"--to {window.end}: the data starts later, on {bars.dates[0]}")
    if window.start is None:
        return 0, end
    first = bisect.bisect_left(bars.dates, window.start)
    if first >= end:
        raise BacktestInputError(f"--from {window.start} is after the last bar used ({bars.dates[end - 1]})")
    warm_up = features.first_complete_row(features.compute(bars.head(min(len(bars), 200)), config.feature_names))
    begin = first - config.training_window - warm_up
    if begin < 0:
        earliest = bars.dates[min(len(bars) - 1, config.training_window + warm_up)]
        raise BacktestInputError(
            f"--from {window.start} leaves too little history for the {config.training_window}-bar training "
            f"window: the earliest first decision on this data is {earliest}"
        )
    return begin, end


def hold_out(bars: Bars, window: Window) -> Bars:
    """The bars a run may see: all of them, or those before ``window.holdout_from`` while it stays unseen."""
    stop = _visible_end(bars, window)
    return bars if stop == len(bars) else bars.slice(0, stop)


def _visible_end(bars: Bars, window: Window) -> int:
    """How many bars from the start ``hold_out`` lets a run see."""
    cut = window.holdout_from
    if cut is None:
        if window.reveal_holdout:
            raise BacktestInputError("--reveal-holdout needs --holdout-from DATE: say where the holdout starts")
        return len(bars)
    if cut <= bars.dates[0]:
        raise BacktestInputError(
            f"--holdout-from {cut} is on or before the first bar ({bars.dates[0]}): nothing is left to run before it"
        )
    if cut > bars.dates[-1]:
        raise BacktestInputError(
            f"--holdout-from {cut} is after the last bar ({bars.dates[-1]}): nothing would be held out"
        )
    if window.start is not None and window.start >= cut:
        raise BacktestInputError(f"--from {window.start} falls inside the holdout (from {cut}): start before it")
    if window.end is not None and window.end < cut:
        raise BacktestInputError(
            f"--to {window.end} ends before --holdout-from {cut}: drop --to, or hold out an earlier date"
        )
    return len(bars) if window.reveal_holdout else bisect.bisect_left(bars.dates, cut)


def select_series(series: Mapping[str, Bars], config: EngineConfig, window: Window) -> dict[str, Bars]:
    """``hold_out`` then ``select`` on aligned series: the dates decide, so every symbol is cut at the same bar."""
    reference = next(iter(series.values()))
    begin, end = _selected_span(reference.slice(0, _visible_end(reference, window)), config, window)
    return {symbol: bars.slice(begin, end) for symbol, bars in series.items()}


PartMetrics = Callable[[Sequence[dict[str, Any]], int], dict[str, Any]]  # (records, first bar) -> their metrics


def _holdout_metrics(
    result: backtest.BacktestResult, window: Window, unseen: int, metrics_of: PartMetrics
) -> dict[str, Any]:
    """The ``holdout`` section: what was kept unseen, or (revealed) in-sample and holdout metrics apart.

    ``metrics_of(records, first)`` computes a part's metrics; ``first`` is its first bar in the run.
    """
    cut = window.holdout_from
    assert cut is not None
    if not window.reveal_holdout:
        return {
            "from": str(cut),
            "revealed": False,
            "unseen_bars": unseen,
            "note": f"the {unseen} bars from {cut} on were neither run nor reported",
        }
    records = result.records
    split = bisect.bisect_left([r["bar"]["date"] for r in records], str(cut))
    if split < 3 or len(records) - split < 3:
        raise BacktestInputError(
            f"--holdout-from {cut} leaves {split} decisions before it and {len(records) - split} from it on: "
            "each part needs at least 3, so move the date"
        )
    first = result.first_bar
    return {
        "from": str(cut),
        "revealed": True,
        "in_sample": metrics_of(records[:split], first),
        "holdout": metrics_of(records[split:], first + split),
    }


def _run_one_symbol(
    config: EngineConfig, bars: Bars, window: Window, progress: backtest.Progress | None
) -> backtest.BacktestResult:
    unseen = len(bars) - bisect.bisect_left(bars.dates, window.holdout_from) if window.holdout_from else 0
    bars = select(hold_out(bars, window), config, window)
    _enough(len(bars), config, window)
    result = backtest.run(config, bars, progress=progress)
    if window.holdout_from is not None:
        result.metrics["holdout"] = _holdout_metrics(
            result,
            window,
            unseen,
            lambda records, first: backtest.assemble_metrics(records, bars.close, first, config),
        )
    return result


def _run_portfolio(
    config: EngineConfig, series: Mapping[str, Bars], window: Window, progress: backtest.Progress | None
) -> backtest.BacktestResult:
    missing = [s for s in config.universe if s not in series]
    if missing:
        raise BacktestInputError(f"no bars for {', '.join(missing)}: the portfolio needs one series per symbol")
    aligned = align({symbol: series[symbol] for symbol in config.universe})
    common = next(iter(aligned.bars.values()))
    unseen = len(common) - bisect.bisect_left(common.dates, window.holdout_from) if window.holdout_from else 0
    cut = select_series(aligned.bars, config, window)
    _enough(len(next(iter(cut.values()))), config, window, common=True)
    result = portfolio_backtest.run(config, cut, progress=progress)
    result.metrics["dropped_bars"] = aligned.dropped  # what the common dates cost each symbol in the whole data
    if window.holdout_from is not None:
        result.metrics["holdout"] = _holdout_metrics(
            result,
            window,
            unseen,
            lambda records, first: portfolio_backtest.evaluated_metrics(records, cut, first, config),
        )
    return result


def _enough(bars: int, config: EngineConfig, window: Window, *, common: bool = False) -> None:
    if bars <= config.training_window + 30:
        before = f" before --holdout-from {window.holdout_from}" if window.holdout_from else ""
        given = "common bars (dates every symbol has)" if common else "bars"
        raise BacktestInputError(
            f"the training window ({config.training_window} bars) needs more data: only {bars} {given} given{before}"
        )


def run_backtest(
    profile: BotProfile,
    bars: Bars | Mapping[str, Bars],
    out_dir: Path,
    *,
    bot_id: str,
    walk_forward: bool = True,
    window: Window | None = None,
    progress: backtest.Progress | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Run and write the files; the metrics. ``walk_forward=False`` fits once and never refits.

    ``bars`` is one series for a one-symbol profile, or each symbol's series for a portfolio
    (``load_inputs`` gives the right one).
    """
    config = engine_config(profile, bot_id=bot_id)
    if not walk_forward:
        config = replace(config, refit_every=NEVER)
    window = window or Window()
    try:
        if config.is_portfolio:
            if isinstance(bars, Bars):
                raise BacktestInputError(
                    f"the portfolio {', '.join(config.universe)} needs one series per symbol, not one series"
                )
            result = _run_portfolio(config, bars, window, progress)
        else:
            single = bars if isinstance(bars, Bars) else bars[config.symbol]
            result = _run_one_symbol(config, single, window, progress)
    except (FeatureError, DegenerateFit, BarDataError, ValueError) as exc:
        raise BacktestInputError(str(exc)) from None
    result.metrics["mode"] = "walk-forward" if walk_forward else "single fit"
    sink = JsonlSink(out_dir / "audit.jsonl")
    for record in result.records:
        sink.write(record)
    sink.close()
    for model_id, model in result.models.items():
        path = out_dir / "models" / f"{model_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(encode({**model.to_json(), "features": list(config.feature_names)}) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")
    if config.is_portfolio:
        write_portfolio_report(out_dir / "report.html", result, config, title=title or profile.basics.name)
    else:
        write_report(
            out_dir / "report.html", result, title=title or profile.basics.name, exposures=report_exposures(config)
        )
    return result.metrics
