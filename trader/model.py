"""Fitting the Gaussian HMM: several restarts, explicit EM limits, warm starts, and states
relabelled deterministically after every fit so that state k keeps its meaning.

States are ordered by the mean of the first feature (the log return when present),
lowest first; ties by its variance. A fit with a state that is almost never visited or
non-finite parameters is refused (``DegenerateFit``) and the caller keeps its previous
model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from hmmlearn.hmm import GaussianHMM
from numpy.typing import NDArray


class DegenerateFit(Exception):
    """The fitted model is unusable; the message says why."""


@dataclass(frozen=True)
class FitOptions:
    n_states: int
    seed: int = 7
    restarts: int = 4
    n_iter: int = 200
    tol: float = 1e-4
    min_occupancy: float = 0.01


@dataclass(frozen=True)
class RegimeModel:
    """A fitted HMM with states in canonical order."""

    startprob: NDArray[np.float64]
    transmat: NDArray[np.float64]
    means: NDArray[np.float64]
    covars: NDArray[np.float64]  # (K, d, d)
    log_likelihood: float
    trained_on: dict[str, Any] | None = None  # {"first": date, "last": date, "bars": n}, set by the engine

    @property
    def n_states(self) -> int:
        return int(self.transmat.shape[0])

    def to_hmmlearn(self) -> GaussianHMM:
        hmm = GaussianHMM(n_components=self.n_states, covariance_type="full", init_params="", params="stmc")
        hmm.startprob_ = self.startprob
        hmm.transmat_ = self.transmat
        hmm.means_ = self.means
        hmm.covars_ = self.covars
        return hmm

    def to_json(self) -> dict[str, Any]:
        return {
            "startprob": self.startprob.tolist(),
            "transmat": self.transmat.tolist(),
            "means": self.means.tolist(),
            "covars": self.covars.tolist(),
            "log_likelihood": self.log_likelihood,
            "trained_on": self.trained_on,
        }

    def model_id(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def _canonical_order(means: NDArray[np.float64], covars: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.lexsort((covars[:, 0, 0], means[:, 0]))


def _relabelled(hmm: GaussianHMM, log_likelihood: float) -> RegimeModel:
    covars = np.asarray(hmm.covars_, dtype=np.float64)
    order = _canonical_order(np.asarray(hmm.means_), covars)
    return RegimeModel(
        startprob=np.asarray(hmm.startprob_)[order],
        transmat=np.asarray(hmm.transmat_)[np.ix_(order, order)],
        means=np.asarray(hmm.means_)[order],
        covars=covars[order],
        log_likelihood=log_likelihood,
    )


def _covariances_usable(covars: NDArray[np.float64]) -> bool:
    """Symmetric and safely positive-definite (a collapsed state has a near-singular one)."""
    if not np.allclose(covars, np.transpose(covars, (0, 2, 1))):
        return False
    return bool(np.linalg.eigvalsh(covars).min() > 1e-8)


def _check(model: RegimeModel, X: NDArray[np.float64], options: FitOptions) -> None:
    arrays = (model.startprob, model.transmat, model.means, model.covars)
    if not all(np.isfinite(a).all() for a in arrays):
        raise DegenerateFit("the fit produced non-finite parameters")
    occupancy = model.to_hmmlearn().predict_proba(X).mean(axis=0)
    rare = [k for k, share in enumerate(occupancy) if share < options.min_occupancy]
    if rare:
        raise DegenerateFit(
            f"state(s) {rare} occupy under {options.min_occupancy:.0%} of the training window: "
            f"the data does not support {options.n_states} regimes"
        )


def fit(X: NDArray[np.float64], options: FitOptions, *, previous: RegimeModel | None = None) -> RegimeModel:
    """Best of ``options.restarts`` EM runs (plus a warm start from ``previous``)."""
    # hmmlearn logs "Model is not converging" for every restart that stops early; restarts
    # are compared by score anyway, so those lines are noise.
    logging.getLogger("hmmlearn.base").setLevel(logging.ERROR)
    if len(X) < 10 * options.n_states:
        raise DegenerateFit(f"{len(X)} bars are too few to fit {options.n_states} regimes")
    candidates: list[RegimeModel] = []
    rng = np.random.RandomState(options.seed)
    starts: list[GaussianHMM] = []
    if previous is not None and previous.n_states == options.n_states:
        warm = previous.to_hmmlearn()
        warm.n_iter, warm.tol, warm.random_state = options.n_iter, options.tol, options.seed
        starts.append(warm)
    for _ in range(options.restarts):
        starts.append(
            GaussianHMM(
                n_components=options.n_states,
                covariance_type="full",
                n_iter=options.n_iter,
                tol=options.tol,
                random_state=int(rng.randint(0, 2**31 - 1)),
            )
        )
    for hmm in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hmmlearn warns on non-converged restarts; we compare scores
            try:
                hmm.fit(X)
                score = float(hmm.score(X))
            except (ValueError, np.linalg.LinAlgError):
                continue
        if np.isfinite(score):
            candidate = _relabelled(hmm, score)
            if _covariances_usable(candidate.covars):
                candidates.append(candidate)
    if not candidates:
        raise DegenerateFit("no restart converged to a usable model")
    best = max(candidates, key=lambda m: m.log_likelihood)
    _check(best, X, options)
    return best
