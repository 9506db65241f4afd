"""From filtered probabilities to a target exposure, through a stability filter.

A new regime is accepted only after it has been the most likely state, with at least
``prob_threshold`` probability, for ``min_persistence`` consecutive bars: one noisy bar
does not flip the book. Until a first regime is accepted the target is flat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


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
    target: float


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
    target = 0.0 if tracker.regime is None else config.exposure_per_regime[tracker.regime]
    if config.vol_target_pct is not None and daily_vol_pct and daily_vol_pct > 0:
        annualised = daily_vol_pct * np.sqrt(252)
        target *= min(config.max_vol_scale, config.vol_target_pct / annualised)
    return Decision(tracker.regime, confidence, tracker.candidate, float(np.clip(target, -1.0, 1.0)))
