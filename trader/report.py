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
    """Which decisions to make: from ``start`` (the history before it trains the model) to ``end``."""

    start: date | None = None
    end: date | None = None


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
    bars = select(bars, config, window or Window())
    if len(bars) <= config.training_window + 30:
        raise BacktestInputError(
            f"the training window ({config.training_window} bars) needs more data: only {len(bars)} bars given"
        )
    try:
        result = backtest.run(config, bars, progress=progress)
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
