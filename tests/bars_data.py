"""Bar files for tests: slices of the bundled S&P 500 series written as CSV, and a small profile."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from contracts.profile import BotProfile
from trader.bars import load_bundled, write_csv
from trader.instance import write_instance

SMALL_PROFILE: dict[str, Any] = {
    "basics": {"name": "Test runner bot", "surface": "local", "mode": "paper"},
    "market": {"symbols": ["SPX"], "data_source": "file", "data_file": "bars.csv"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150, "refit_every": 50},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10},
    "schedule": {"confirmed": True},
}


def write_bars_csv(path: Path, n: int = 420, *, start: int = 0) -> Path:
    """Bars ``start .. start + n - 1`` of the bundled S&P 500 series as a CSV file."""
    return write_csv(load_bundled("sp500").slice(start, start + n), path)


def small_profile(data_file: Path, **model: Any) -> BotProfile:
    profile = copy.deepcopy(SMALL_PROFILE)
    profile["market"]["data_file"] = str(data_file)
    profile["model"].update(model)
    return BotProfile.model_validate(profile)


def make_instance(
    home: Path, data_file: Path, *, bot_id: uuid.UUID | None = None, env: dict[str, str] | None = None, **model: Any
) -> tuple[uuid.UUID, Path]:
    """A bot instance under ``home`` replaying ``data_file``; (bot id, instance YAML path)."""
    bot_id = bot_id or uuid.uuid4()
    return bot_id, write_instance(home, bot_id, small_profile(data_file, **model), env)
