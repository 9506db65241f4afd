"""``hmmtrade backtest``: run a profile over bars and write audit.jsonl, metrics.json and models/.

Every expected failure (bad profile, bad data, too little data, a model the data cannot
support) becomes ``BacktestInputError`` with one line that says what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.profile import BotProfile
from trader import backtest
from trader.audit import JsonlSink, encode
from trader.bars import BUNDLED, BarDataError, Bars, load_bundled, load_file
from trader.config import engine_config
from trader.features import FeatureError
from trader.model import DegenerateFit


class BacktestInputError(Exception):
    """One line for the user; no traceback."""


def load_bars(data: str) -> Bars:
    try:
        return load_bundled(data) if data in BUNDLED else load_file(Path(data))
    except BarDataError as exc:
        raise BacktestInputError(str(exc)) from None


def load_profile(path: Path) -> BotProfile:
    try:
        return BotProfile.model_validate_json(path.read_text())
    except OSError as exc:
        raise BacktestInputError(f"{path}: cannot read it ({exc.strerror})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "profile"
        raise BacktestInputError(f"{path}: {where}: {first['msg']}") from None


def run_backtest(
    profile: BotProfile,
    bars: Bars,
    out_dir: Path,
    *,
    bot_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    config = engine_config(profile, bot_id=bot_id)
    if len(bars) <= config.training_window + 30:
        raise BacktestInputError(
            f"the training window ({config.training_window} bars) needs more data: only {len(bars)} bars given"
        )
    try:
        result = backtest.run(config, bars, progress=progress)
    except (FeatureError, DegenerateFit, ValueError) as exc:
        raise BacktestInputError(str(exc)) from None
    sink = JsonlSink(out_dir / "audit.jsonl")
    for record in result.records:
        sink.write(record)
    sink.close()
    for model_id, model in result.models.items():
        path = out_dir / "models" / f"{model_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(encode({**model.to_json(), "features": list(config.feature_names)}) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")
    return result.metrics
