"""The engine's configuration from a wizard profile (``contracts.profile.BotProfile``)."""

from __future__ import annotations

from contracts.profile import BotProfile
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig


def engine_config(profile: BotProfile, *, bot_id: str) -> EngineConfig:
    model, strategy = profile.model, profile.strategy
    return EngineConfig(
        bot_id=bot_id,
        symbol=profile.market.symbols[0],
        feature_names=tuple(model.features),
        fit=FitOptions(n_states=model.n_states, seed=model.random_seed),
        strategy=StrategyConfig(
            exposure_per_regime=tuple(strategy.exposure_per_regime),
            min_persistence=model.min_persistence,
            prob_threshold=model.prob_threshold,
            vol_target_pct=strategy.vol_target_pct,
        ),
        risk=RiskLimits(
            max_position_pct=strategy.max_position_pct,
            max_daily_loss_pct=strategy.max_daily_loss_pct,
            max_drawdown_pct=strategy.max_drawdown_pct,
            stop_loss_pct=strategy.stop_loss_pct,
        ),
        training_window=model.training_window,
        window_kind=model.window_kind,
        refit_every=model.refit_every,
        starting_cash=profile.schedule.starting_cash,
    )
