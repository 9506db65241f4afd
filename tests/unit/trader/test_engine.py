"""The engine's decisions never depend on later bars, and a run is reproducible."""

from __future__ import annotations

import json
from functools import cache

import numpy as np

from trader import backtest
from trader.bars import Bars, load_bundled
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig

CONFIG = EngineConfig(
    bot_id="test-bot",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.2, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=50, max_daily_loss_pct=10),
    training_window=150,
    refit_every=40,
)


@cache
def _bars() -> Bars:
    return load_bundled("sp500").head(330)


def _run(bars: Bars) -> list[dict[str, object]]:
    return backtest.run(CONFIG, bars).records


def test_changing_every_bar_after_t_leaves_every_decision_up_to_t_unchanged() -> None:
    bars = _bars()
    original = _run(bars)
    t = 280
    scale = np.where(np.arange(len(bars)) > t, np.linspace(0.6, 1.4, len(bars)), 1.0)
    altered = Bars(bars.dates, bars.open * scale, bars.high * scale, bars.low * scale, bars.close * scale, bars.volume)
    changed = _run(altered)
    cut = str(bars.dates[t])
    before = [r for r in original if r["bar"]["date"] <= cut]  # type: ignore[index]
    assert before and before == [r for r in changed if r["bar"]["date"] <= cut]  # type: ignore[index]
    assert original != changed


def test_same_data_and_seed_give_identical_audit_and_orders_have_derived_ids() -> None:
    first, second = _run(_bars()), _run(_bars())
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert [r["seq"] for r in first] == list(range(1, len(first) + 1))
    ids = [o["client_order_id"] for r in first for o in r["orders"]]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) and ids, "one order per bar at most, never the same id twice"
    final = first[-1]
    assert abs(final["equity"] - (final["cash"] + final["position"] * final["bar"]["close"])) < 1e-6  # type: ignore[index, operator]


def test_a_model_that_cannot_be_fitted_is_a_warning_not_silence() -> None:
    from datetime import date, timedelta

    import numpy as np

    from trader.bars import Bars
    from trader.engine import Engine, EngineConfig
    from trader.model import FitOptions
    from trader.risk import RiskLimits
    from trader.strategy import StrategyConfig

    n = 200
    flat = np.full(n, 100.0)  # no movement at all: no regime can be fitted
    bars = Bars(tuple(date(2020, 1, 1) + timedelta(days=i) for i in range(n)), flat, flat, flat, flat, flat)
    config = EngineConfig(
        bot_id="b",
        symbol="X",
        feature_names=("log_return", "realized_vol"),
        fit=FitOptions(n_states=2, seed=7),
        strategy=StrategyConfig(exposure_per_regime=(0.0, 1.0)),
        risk=RiskLimits(),
        training_window=100,
    )
    engine = Engine(config)
    assert all(engine.on_bar(bars, t) is None for t in range(n))
    assert len(engine.state.warnings) == 1 and "no model could be fitted yet" in engine.state.warnings[0]
