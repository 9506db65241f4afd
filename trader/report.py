"""``hmmtrade backtest``: run a profile over bars and write audit.jsonl, metrics.json, models/
and report.html.

Every expected failure (bad profile, bad data, too little data, a model the data cannot
support) becomes ``BacktestInputError`` with one line that says what to fix.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contracts.profile import BotProfile
from trader import backtest, features
from trader.audit import JsonlSink, encode
from trader.bars import BUNDLED, BarDataError, Bars, load_bundled, load_file
from trader.config import engine_config
from trader.engine import EngineConfig
from trader.features import FeatureError
from trader.model import DegenerateFit
from trader.report_html import write_report

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
    end = len(bars) if window.end is None else bisect.bisect_right(bars.dates, window.end)
    if end == 0:
        raise BacktestInputError(f"--to {window.end}: the data starts later, on {bars.dates[0]}")
    if window.start is None:
        return bars.slice(0, end)
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
    return bars.slice(begin, end)


def hold_out(bars: Bars, window: Window) -> Bars:
    """The bars a run may see: all of them, or those before ``window.holdout_from`` while it stays unseen."""
    cut = window.holdout_from
    if cut is None:
        if window.reveal_holdout:
            raise BacktestInputError("--reveal-holdout needs --holdout-from DATE: say where the holdout starts")
        return bars
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
    return bars if window.reveal_holdout else bars.slice(0, bisect.bisect_left(bars.dates, cut))


def _holdout_metrics(
    result: backtest.BacktestResult, bars: Bars, config: EngineConfig, window: Window, unseen: int
) -> dict[str, Any]:
    """The ``holdout`` section: what was kept unseen, or (revealed) in-sample and holdout metrics apart."""
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
        "in_sample": backtest.assemble_metrics(records[:split], bars.close, first, config),
        "holdout": backtest.assemble_metrics(records[split:], bars.close, first + split, config),
    }


def run_backtest(
    profile: BotProfile,
    bars: Bars,
    out_dir: Path,
    *,
    bot_id: str,
    walk_forward: bool = True,
    window: Window | None = None,
    progress: backtest.Progress | None = None,
    title: str = "",
) -> dict[str, Any]:
    """Run and write the files; the metrics. ``walk_forward=False`` fits once and never refits."""
    config = engine_config(profile, bot_id=bot_id)
    if not walk_forward:
        config = replace(config, refit_every=NEVER)
    window = window or Window()
    unseen = len(bars) - bisect.bisect_left(bars.dates, window.holdout_from) if window.holdout_from else 0
    bars = select(hold_out(bars, window), config, window)
    if len(bars) <= config.training_window + 30:
        before = f" before --holdout-from {window.holdout_from}" if window.holdout_from else ""
        raise BacktestInputError(
            f"the training window ({config.training_window} bars) needs more data: only {len(bars)} bars given{before}"
        )
    try:
        result = backtest.run(config, bars, progress=progress)
        if window.holdout_from is not None:
            result.metrics["holdout"] = _holdout_metrics(result, bars, config, window, unseen)
    except (FeatureError, DegenerateFit, ValueError) as exc:
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
    write_report(out_dir / "report.html", result, title=title or profile.basics.name)
    return result.metrics
