"""``venues.daily.synthetic_bars``: the emulators' regime-switching generator as Bars with the truth."""

from __future__ import annotations

import numpy as np
import pytest

from venues.daily import REGIMES, SyntheticDaily, synthetic_bars

CALM, CHOPPY, BEAR = 0, 1, 2


def test_the_same_seed_gives_identical_bars_and_regimes() -> None:
    first, again = synthetic_bars(seed=3, n=2500), synthetic_bars(seed=3, n=2500)
    assert first.bars.dates == again.bars.dates
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(first.bars, column), getattr(again.bars, column))
    np.testing.assert_array_equal(first.regimes, again.regimes)


def test_another_seed_or_symbol_gives_another_path() -> None:
    base = synthetic_bars(seed=3, n=300).bars.close
    assert not np.array_equal(base, synthetic_bars(seed=4, n=300).bars.close)
    assert not np.array_equal(base, synthetic_bars(seed=3, n=300, symbol="OTHER").bars.close)


def test_bars_are_the_ones_the_emulators_serve() -> None:
    labelled = synthetic_bars(seed=5, n=1500, symbol="SPY")
    served = SyntheticDaily(seed=5)
    for day in (0, 1, 1023, 1024, 1499):  # both sides of the generator's 1024-day chunk boundary
        bar = served.bar("SPY", day)
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            labelled.bars.open[day],
            labelled.bars.high[day],
            labelled.bars.low[day],
            labelled.bars.close[day],
            labelled.bars.volume[day],
        )
        assert served.regime("SPY", day) == labelled.regimes[day]


def test_a_shorter_path_is_a_prefix_of_a_longer_one() -> None:
    short, long = synthetic_bars(seed=9, n=700), synthetic_bars(seed=9, n=3000)
    np.testing.assert_array_equal(short.bars.close, long.bars.close[:700])
    np.testing.assert_array_equal(short.regimes, long.regimes[:700])
    assert short.bars.dates == long.bars.dates[:700]


def test_regimes_have_the_documented_drift_and_volatility_ordering() -> None:
    labelled = synthetic_bars(seed=1, n=50_000)
    returns = np.diff(np.log(labelled.bars.close))
    regime = labelled.regimes[1:]  # the regime of bar t drew the return from close t-1 to close t
    drift = [float(returns[regime == r].mean()) for r in (CALM, CHOPPY, BEAR)]
    vol = [float(returns[regime == r].std()) for r in (CALM, CHOPPY, BEAR)]
    assert drift[CALM] > drift[CHOPPY] > drift[BEAR]
    assert drift[CALM] > 0 > drift[BEAR]
    assert vol[CALM] < vol[CHOPPY] < vol[BEAR]
    for r, (_, documented_vol) in enumerate(REGIMES):
        # close to close adds the overnight gap (0.15 x vol) to the day's move: about 1% more
        assert vol[r] == pytest.approx(documented_vol, rel=0.05)


def test_every_regime_occurs_and_persists() -> None:
    regimes = synthetic_bars(seed=1, n=10_000).regimes
    assert set(np.unique(regimes).tolist()) == {CALM, CHOPPY, BEAR}
    mean_run = len(regimes) / (np.count_nonzero(np.diff(regimes)) + 1)
    assert mean_run > 10  # day-to-day persistence: runs of weeks, not a coin flip per day


def test_bars_are_consistent() -> None:
    bars = synthetic_bars(seed=2, n=5000).bars
    assert np.all(bars.low > 0)
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert np.all(np.maximum(bars.open, bars.close) <= bars.high)
    assert np.all(bars.volume > 0)
    assert all(a < b for a, b in zip(bars.dates, bars.dates[1:], strict=False))


def test_asking_for_no_bars_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one bar"):
        synthetic_bars(seed=1, n=0)
