"""Online filter behaviour that a mutation run (``./dev mutation trader/filter.py``) showed untested.

What a user would notice: the surprise score (``last_log_likelihood``, how expected a bar was)
wrong, and an extreme bar (a crash) turning the regime probabilities into NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from trader.filter import OnlineFilter
from trader.model import RegimeModel

START = np.array([0.7, 0.3])
TRANS = np.array([[0.9, 0.1], [0.2, 0.8]])
MEANS = np.array([[0.1, 1.0], [-0.5, 3.0]])
COVARS = np.array([[[1.0, 0.2], [0.2, 0.5]], [[4.0, -0.5], [-0.5, 2.0]]])


def _model() -> RegimeModel:
    return RegimeModel(startprob=START, transmat=TRANS, means=MEANS, covars=COVARS, log_likelihood=0.0)


def _densities(x: np.ndarray) -> np.ndarray:
    return np.array([multivariate_normal(MEANS[k], COVARS[k]).pdf(x) for k in range(2)])


def test_the_surprise_score_is_the_log_predictive_density_of_each_bar() -> None:
    model = _model()
    online = OnlineFilter(model)
    assert online.model is model and online.last_log_likelihood == 0.0  # no bar seen yet
    first, second = np.array([0.3, 1.5]), np.array([-1.0, 2.5])
    alpha = online.step(first)
    assert online.last_log_likelihood == pytest.approx(math.log(START @ _densities(first)), rel=1e-12)
    predicted = alpha @ TRANS
    online.step(second)
    expected = math.log(predicted @ _densities(second))
    assert online.last_log_likelihood == pytest.approx(expected, rel=1e-12)


def test_an_extreme_bar_still_gives_probabilities_and_a_finite_surprise() -> None:
    online = OnlineFilter(_model())
    online.step(np.array([0.0, 1.0]))
    crash = online.step(np.array([-400.0, 60.0]))  # hundreds of standard deviations: densities underflow to 0
    assert np.isfinite(crash).all() and abs(crash.sum() - 1) < 1e-12
    assert math.isfinite(online.last_log_likelihood) and online.last_log_likelihood < -1_000
