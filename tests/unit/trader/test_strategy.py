"""The stability filter accepts a regime only after it persists with enough confidence."""

from __future__ import annotations

import numpy as np

from trader.bars import load_bundled
from trader.strategy import RegimeTracker, StrategyConfig, daily_vol_pct, decide, sized

CONFIG = StrategyConfig(exposure_per_regime=(0.0, 0.5, 1.0), min_persistence=3, prob_threshold=0.6)


def _p(*values: float) -> np.ndarray:
    return np.array(values)


def test_flat_until_a_regime_has_persisted() -> None:
    tracker = RegimeTracker()
    targets = [decide(CONFIG, tracker, _p(0.1, 0.1, 0.8)).target for _ in range(3)]
    assert targets == [0.0, 0.0, 1.0]
    assert tracker.regime == 2


def test_a_single_noisy_bar_does_not_flip_the_regime() -> None:
    tracker = RegimeTracker(regime=2)
    assert decide(CONFIG, tracker, _p(0.9, 0.05, 0.05)).target == 1.0
    assert decide(CONFIG, tracker, _p(0.1, 0.1, 0.8)).target == 1.0
    assert tracker.candidate is None, "returning to the current regime resets the candidate"


def test_low_confidence_bars_do_not_count_towards_a_switch() -> None:
    tracker = RegimeTracker(regime=2)
    for probabilities in (_p(0.7, 0.2, 0.1), _p(0.55, 0.4, 0.05), _p(0.7, 0.2, 0.1), _p(0.7, 0.2, 0.1)):
        decision = decide(CONFIG, tracker, probabilities)
    assert decision.regime == 2 and tracker.streak == 2
    assert decide(CONFIG, tracker, _p(0.7, 0.2, 0.1)).regime == 0


def test_volatility_targeting_scales_and_caps_exposure() -> None:
    config = StrategyConfig(exposure_per_regime=(1.0, 1.0), min_persistence=1, vol_target_pct=10.0)
    calm = decide(config, RegimeTracker(), _p(0.9, 0.1), daily_vol_pct=0.63)  # ~10% annualised
    stormy = decide(config, RegimeTracker(), _p(0.9, 0.1), daily_vol_pct=2.52)  # ~40% annualised
    assert abs(calm.target - 1.0) < 0.01
    assert abs(stormy.target - 0.25) < 0.01


def test_daily_volatility_is_numpys_std_of_the_last_20_log_returns_to_the_last_bit() -> None:
    close = load_bundled("sp500").close
    got = [daily_vol_pct(close, t) for t in range(len(close))]
    expected = [None] * 3 + [
        float(np.std(np.diff(np.log(close[max(0, t - 20) : t + 1])), ddof=1) * 100) for t in range(3, len(close))
    ]
    assert got == expected


def test_sizing_clips_to_one_either_way_as_np_clip_did() -> None:
    config = StrategyConfig(exposure_per_regime=(-1.0, 1.0), vol_target_pct=40.0, max_vol_scale=3.0)
    assert sized(config, 1.0, 0.5) == 1.0
    assert sized(config, -1.0, 0.5) == -1.0
    assert sized(config, 0.5, 2.52) == float(np.clip(0.5 * min(3.0, 40.0 / (2.52 * np.sqrt(252))), -1.0, 1.0))
