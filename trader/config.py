"""The engine's configuration from a wizard profile (``contracts.profile.BotProfile``)."""

from __future__ import annotations

from contracts.profile import AUTO_STATES, BotProfile
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig


def engine_config(profile: BotProfile, *, bot_id: str) -> EngineConfig:
    model, strategy = profile.model, profile.strategy
    return EngineConfig(
        bot_id=bot_id,
        symbol=profile.market.symbols[0],
        symbols=tuple(profile.market.symbols) if len(profile.market.symbols) > 1 else (),
        scope=model.scope,
        reference_symbol=model.reference_symbol,
        weights=tuple(strategy.weights) if strategy.weights is not None else None,
        feature_names=tuple(model.features),
        fit=FitOptions(
            n_states=AUTO_STATES[0] if model.n_states == "auto" else model.n_states,
            seed=model.random_seed,
            auto_states=AUTO_STATES if model.n_states == "auto" else None,
        ),
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
            rearm=strategy.rearm,
            rearm_calm_bars=strategy.rearm_calm_bars,
        ),
        rebalance_band=strategy.rebalance_band_pct / 100,
        min_hold_bars=strategy.min_hold_bars,
        training_window=model.training_window,
        window_kind=model.window_kind,
        refit_every=model.refit_every,
        starting_cash=profile.schedule.starting_cash,
    )
