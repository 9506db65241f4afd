"""Fits keep a state's meaning across refits and refuse models the data cannot support."""

from __future__ import annotations

import numpy as np
import pytest

from trader import features
from trader.bars import load_bundled
from trader.model import DegenerateFit, FitOptions, fit


def _returns() -> np.ndarray:
    X = features.compute(load_bundled("sp500"), ["log_return"])
    return X[features.first_complete_row(X) :]


def test_two_state_sp500_model_has_a_calm_and_a_volatile_persistent_regime() -> None:
    model = fit(_returns(), FitOptions(n_states=2, restarts=3))
    sigma = np.sqrt(model.covars[:, 0, 0])
    volatile, calm = 0, 1  # ordered by volatility, most volatile first: here it has the lower mean too
    assert model.means[volatile, 0] < model.means[calm, 0]
    assert sigma[volatile] > 1.4 and sigma[calm] < 0.9
    assert min(np.diag(model.transmat)) > 0.97


def test_states_are_ordered_by_volatility_most_volatile_first_and_keep_it_after_a_warm_refit() -> None:
    X = _returns()
    first = fit(X[:2000], FitOptions(n_states=3, restarts=3))
    variances = first.covars[:, 0, 0]
    assert list(variances) == sorted(variances, reverse=True)
    refit = fit(X[21:2021], FitOptions(n_states=3, restarts=0), previous=first)
    assert list(refit.covars[:, 0, 0]) == sorted(refit.covars[:, 0, 0], reverse=True)
    # a month later the regimes are the same regimes: each variance moved far less than the gaps between them
    gaps = np.abs(np.diff(np.log(variances))).min()
    assert np.abs(np.log(refit.covars[:, 0, 0]) - np.log(variances)).max() < gaps


def test_same_data_and_seed_give_the_same_model() -> None:
    X = _returns()[:1200]
    assert fit(X, FitOptions(n_states=2, seed=3)).model_id() == fit(X, FitOptions(n_states=2, seed=3)).model_id()


def test_too_little_data_or_too_many_regimes_is_refused() -> None:
    with pytest.raises(DegenerateFit, match="too few"):
        fit(_returns()[:30], FitOptions(n_states=4))
    constant_then_noise = np.concatenate([np.zeros((200, 1)) + 0.01, np.random.default_rng(0).normal(size=(5, 1))])
    with pytest.raises(DegenerateFit):
        fit(constant_then_noise, FitOptions(n_states=6, restarts=1, min_occupancy=0.05))
