"""The online filter equals hmmlearn's filtered probabilities on real data, and resumes exactly."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from numpy.typing import NDArray

from trader import features
from trader.bars import load_bundled
from trader.filter import OnlineFilter
from trader.model import FitOptions, RegimeModel, fit


@cache
def sp500_features() -> NDArray[np.float64]:
    X = features.compute(load_bundled("sp500"), ["log_return", "realized_vol"])
    return X[features.first_complete_row(X) :]


@cache
def fitted(n_states: int) -> RegimeModel:
    return fit(sp500_features()[:1500], FitOptions(n_states=n_states, restarts=3))


@pytest.mark.parametrize("n_states", [2, 3, 4])
def test_filtered_probabilities_equal_predict_proba_of_the_prefix(n_states: int) -> None:
    model = fitted(n_states)
    reference = model.to_hmmlearn()
    sequence = sp500_features()[1500:1750]
    online = OnlineFilter(model)
    for t in range(len(sequence)):
        probabilities = online.step(sequence[t])
        expected = reference.predict_proba(sequence[: t + 1])[-1]
        np.testing.assert_allclose(probabilities, expected, atol=1e-9, rtol=0)
        assert abs(probabilities.sum() - 1) < 1e-12


def test_a_restored_filter_continues_exactly_where_it_stopped() -> None:
    model = fitted(3)
    sequence = sp500_features()[2000:2200]
    uninterrupted = OnlineFilter(model)
    expected = [uninterrupted.step(x) for x in sequence]
    first = OnlineFilter(model)
    for x in sequence[:120]:
        first.step(x)
    resumed = OnlineFilter(model, state=first.state)
    np.testing.assert_array_equal(np.array([resumed.step(x) for x in sequence[120:]]), np.array(expected[120:]))
