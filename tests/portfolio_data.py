"""A 3-symbol portfolio bot for runner tests: one synthetic bar file per symbol and its instance."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from contracts.profile import BotProfile
from trader.bars import Bars, load_file, write_csv
from trader.instance import write_instance
from venues.daily import synthetic_bars

SYMBOLS = ("AAA", "BBB", "CCC")
SEEDS = {"AAA": 11, "BBB": 12, "CCC": 13}
PORTFOLIO_PROFILE: dict[str, Any] = {
    "basics": {"name": "Test portfolio bot", "surface": "local", "mode": "paper"},
    "market": {"symbols": list(SYMBOLS), "data_source": "file", "data_file": "{symbol}.csv"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 120, "refit_every": 40},
    "strategy": {
        "exposure_per_regime": [0.2, 1.0],
        "weights": [0.5, 0.3, 0.2],
        "max_drawdown_pct": 50,
        "max_daily_loss_pct": 10,
        "stop_loss_pct": 8,
    },
    "schedule": {"confirmed": True},
}


def portfolio_series(n: int, *, missing: dict[str, int] | None = None) -> dict[str, Bars]:
    """Each symbol's first ``n`` synthetic bars (its own seed), less the bar index ``missing`` names for it."""
    series: dict[str, Bars] = {}
    for symbol in SYMBOLS:
        bars = synthetic_bars(SEEDS[symbol], n, symbol).bars
        gap = (missing or {}).get(symbol)
        if gap is not None:
            bars = _without(bars, gap)
        series[symbol] = bars
    return series


def write_portfolio_files(folder: Path, n: int, *, missing: dict[str, int] | None = None) -> Path:
    """``folder/<symbol>.csv`` per symbol; the ``{symbol}`` pattern a profile names them by."""
    for symbol, bars in portfolio_series(n, missing=missing).items():
        write_csv(bars, folder / f"{symbol}.csv")
    return folder / "{symbol}.csv"


def load_portfolio_files(pattern: Path) -> dict[str, Bars]:
    return {symbol: load_file(Path(str(pattern).replace("{symbol}", symbol))) for symbol in SYMBOLS}


def portfolio_profile(data_file: str, **model: Any) -> BotProfile:
    profile = copy.deepcopy(PORTFOLIO_PROFILE)
    profile["market"]["data_file"] = data_file
    profile["model"].update(model)
    return BotProfile.model_validate(profile)


def make_portfolio_instance(
    home: Path, data_file: str, *, bot_id: uuid.UUID | None = None, **model: Any
) -> tuple[uuid.UUID, Path]:
    """A portfolio bot under ``home`` replaying ``data_file`` (a ``{symbol}`` pattern); (bot id, instance YAML)."""
    bot_id = bot_id or uuid.uuid4()
    return bot_id, write_instance(home, bot_id, portfolio_profile(data_file, **model))


def _without(bars: Bars, index: int) -> Bars:
    keep = [i for i in range(len(bars)) if i != index]
    return Bars(
        tuple(bars.dates[i] for i in keep),
        bars.open[keep],
        bars.high[keep],
        bars.low[keep],
        bars.close[keep],
        bars.volume[keep],
    )
