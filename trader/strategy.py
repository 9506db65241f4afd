"""From filtered probabilities to a target exposure, through a stability filter.

A new regime is accepted only after it has been the most likely state, with at least
``prob_threshold`` probability, for ``min_persistence`` consecutive bars: one noisy bar
does not flip the book. Until a first regime is accepted the target is flat.

When the model's number of states differs from the number of exposures (``n_states: auto``),
the exposures are read as a curve from the most volatile regime to the calmest and each state
takes the value at its place on it (:func:`exposure_for`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.features import sample_std

SQRT_252 = math.sqrt(252)  # trading days a year: daily volatility to annual (np.sqrt rounds it the same)


@dataclass(frozen=True)
class StrategyConfig:
    exposure_per_regime: tuple[float, ...]
    min_persistence: int = 3
    prob_threshold: float = 0.6
    vol_target_pct: float | None = None  # annualised, in percent
    max_vol_scale: float = 2.0


@dataclass(frozen=True)
class Decision:
    regime: int | None
    confidence: float
    candidate: int | None
    target: float  # the exposure, scaled to the volatility target when one is set, within [-1, 1]
    exposure: float = 0.0  # the accepted regime's exposure before volatility scaling


@dataclass
class RegimeTracker:
    """The stability filter's state (checkpointed with the bot)."""

    regime: int | None = None
    candidate: int | None = None
    streak: int = 0


def decide(
    config: StrategyConfig,
    tracker: RegimeTracker,
    probabilities: NDArray[np.float64],
    *,
    daily_vol_pct: float | None = None,
    n_states: int | None = None,
) -> Decision:
    """Update ``tracker`` with this bar's probabilities and return the target exposure."""
    top = int(np.argmax(probabilities))
    confidence = float(probabilities[top])
    if confidence < config.prob_threshold or top == tracker.regime:
        tracker.candidate, tracker.streak = None, 0
    elif top == tracker.candidate:
        tracker.streak += 1
    else:
        tracker.candidate, tracker.streak = top, 1
    if tracker.candidate is not None and tracker.streak >= config.min_persistence:
        tracker.regime, tracker.candidate, tracker.streak = tracker.candidate, None, 0
    states = len(probabilities) if n_states is None else n_states
    exposure = 0.0 if tracker.regime is None else exposure_for(config.exposure_per_regime, tracker.regime, states)
    target = sized(config, exposure, daily_vol_pct)
    return Decision(tracker.regime, confidence, tracker.candidate, target, exposure)


def sized(config: StrategyConfig, exposure: float, daily_vol_pct: float | None) -> float:
    """``exposure`` scaled to the volatility target (when set and the volatility is known), within [-1, 1]."""
    target = exposure
    if config.vol_target_pct is not None and daily_vol_pct and daily_vol_pct > 0:
        annualised = daily_vol_pct * SQRT_252
        target *= min(config.max_vol_scale, config.vol_target_pct / annualised)
    return float(min(max(target, -1.0), 1.0))  # np.clip's result, without its cost on a scalar


def daily_vol_pct(close: NDArray[np.float64], t: int) -> float | None:
    """The standard deviation of the last 20 daily log returns up to bar t, in percent (None before bar 3)."""
    if t <= 2:
        return None
    log_close = np.log(close[max(0, t - 20) : t + 1])
    return sample_std(log_close[1:] - log_close[:-1]) * 100  # np.diff is this subtraction


def exposure_for(exposures: tuple[float, ...], regime: int, n_states: int) -> float:
    """Regime ``regime`` of ``n_states``' exposure: the list itself when sizes match, else linear interpolation.

    State k sits at k / (n_states - 1) along the list, so the lowest and highest regimes always
    take the first and last exposure.
    """
    if n_states == len(exposures):
        return exposures[regime]
    if n_states < 2 or len(exposures) < 2:
        return exposures[0]
    place = regime / (n_states - 1) * (len(exposures) - 1)
    below = min(int(place), len(exposures) - 2)
    share = place - below
    return exposures[below] * (1 - share) + exposures[below + 1] * share
