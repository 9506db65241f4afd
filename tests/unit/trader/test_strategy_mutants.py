"""Strategy behaviour that a mutation run (``./dev mutation trader/strategy.py``) showed untested.

What a user would notice: a model with more (or fewer) states than configured exposures trading
the wrong exposure for a regime, a regime exactly at the confidence threshold never accepted, the
volatility target ignored on quiet markets, the decision shown in the dashboard missing its parts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader.strategy import RegimeTracker, StrategyConfig, decide, exposure_for, sized

CURVE = (0.0, 1.0, 0.5)  # not a straight line, so interpolation mistakes show


@pytest.mark.parametrize(
    ("exposures", "n_states", "expected"),
    [
        (CURVE, 5, [0.0, 0.5, 1.0, 0.75, 0.5]),
        (CURVE, 2, [0.0, 0.5]),
        ((0.2, 1.0), 3, [0.2, 0.6, 1.0]),
        ((0.2, 1.0), 4, [0.2, 0.2 + 0.8 / 3, 0.2 + 1.6 / 3, 1.0]),
        ((0.2, 1.0), 1, [0.2]),
        ((0.7,), 3, [0.7, 0.7, 0.7]),
    ],
)
def test_each_state_takes_the_exposure_at_its_place_on_the_curve(
    exposures: tuple[float, ...], n_states: int, expected: list[float]
) -> None:
    got = [exposure_for(exposures, regime, n_states) for regime in range(n_states)]
    assert got == pytest.approx(expected, abs=1e-12)


def test_the_model_state_count_not_the_probability_vector_sets_the_place() -> None:
    config = StrategyConfig(exposure_per_regime=CURVE, min_persistence=1)
    decision = decide(config, RegimeTracker(), np.array([0.1, 0.1, 0.8]), n_states=5)
    assert decision.exposure == pytest.approx(1.0)  # state 2 of 5 sits on the curve's peak, not its end


def test_a_regime_exactly_at_the_confidence_threshold_is_accepted() -> None:
    config = StrategyConfig(exposure_per_regime=(0.0, 1.0), min_persistence=1, prob_threshold=0.6)
    assert decide(config, RegimeTracker(), np.array([0.4, 0.6])).regime == 1


def test_a_decision_carries_confidence_candidate_target_and_unscaled_exposure() -> None:
    config = StrategyConfig(exposure_per_regime=(0.0, 0.5), min_persistence=2, vol_target_pct=10.0)
    tracker = RegimeTracker()
    first = decide(config, tracker, np.array([0.3, 0.7]), daily_vol_pct=1.0)
    assert (first.regime, first.candidate, first.target, first.exposure) == (None, 1, 0.0, 0.0)
    assert first.confidence == pytest.approx(0.7)
    second = decide(config, tracker, np.array([0.3, 0.7]), daily_vol_pct=1.0)
    scale = 10.0 / (1.0 * math.sqrt(252))
    assert (second.regime, second.candidate, second.exposure) == (1, None, 0.5)
    assert second.confidence == pytest.approx(0.7) and second.target == pytest.approx(0.5 * scale)


def test_without_a_volatility_target_a_known_volatility_changes_nothing() -> None:
    assert sized(StrategyConfig(exposure_per_regime=(1.0,)), 0.8, 1.5) == 0.8


def test_a_quiet_market_is_scaled_up_to_the_volatility_target() -> None:
    config = StrategyConfig(exposure_per_regime=(1.0,), vol_target_pct=10.0)
    assert sized(config, 0.5, 0.5) == pytest.approx(0.5 * 10.0 / (0.5 * math.sqrt(252)))
