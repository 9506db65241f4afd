"""Fitting the Gaussian HMM: several restarts, explicit EM limits, warm starts, and state
labels that keep their meaning from one refit to the next.

A first fit orders its states by the variance of the first feature (the log return when
present), most volatile first; ties by its mean, lowest first. Volatility, not mean return,
names them because within a training window the means of the regimes are mostly noise next
to their volatilities: ordered by mean, the crash regime was often named the best one
(``docs/regimes.md``, known-truth check). A refit with the same number of states gives
each state the label of the previous model's state it resembles most (the assignment of
least total distance between means and log-variances, :func:`match_states`), so "regime 2"
is the same market after the refit even when two states' means cross. With ``auto_states``
the number of states is chosen at each fit by BIC, and the scores are kept in the model.
A fit with a state that is almost never visited or non-finite parameters is refused
(``DegenerateFit``) and the caller keeps its previous model.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # hmmlearn pulls in scikit-learn and scipy (~125 MiB RSS): imported only where a fit happens
    from hmmlearn.hmm import GaussianHMM


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
    auto_states: tuple[int, int] | None = None  # (fewest, most): choose the number of states by BIC at each fit


@dataclass(frozen=True)
class RegimeModel:
    """A fitted HMM with states in canonical order."""

    startprob: NDArray[np.float64]
    transmat: NDArray[np.float64]
    means: NDArray[np.float64]
    covars: NDArray[np.float64]  # (K, d, d)
    log_likelihood: float
    trained_on: dict[str, Any] | None = None  # {"first": date, "last": date, "bars": n}, set by the engine
    selection: dict[str, Any] | None = None  # how n_states was chosen (auto_states): criterion and scores
    surprise_baseline: dict[str, float] | None = None  # per-bar predictive log-likelihood in training: mean, std

    @property
    def n_states(self) -> int:
        return int(self.transmat.shape[0])

    def to_hmmlearn(self) -> GaussianHMM:
        from hmmlearn.hmm import GaussianHMM

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
            "selection": self.selection,
            "surprise_baseline": self.surprise_baseline,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegimeModel:
        return cls(
            startprob=np.asarray(data["startprob"], dtype=np.float64),
            transmat=np.asarray(data["transmat"], dtype=np.float64),
            means=np.asarray(data["means"], dtype=np.float64),
            covars=np.asarray(data["covars"], dtype=np.float64),
            log_likelihood=float(data["log_likelihood"]),
            trained_on=data.get("trained_on"),
            selection=data.get("selection"),
            surprise_baseline=data.get("surprise_baseline"),
        )

    def permuted(self, order: list[int] | NDArray[np.intp]) -> RegimeModel:
        """The same model with state ``order[i]`` relabelled ``i``."""
        index = np.asarray(order, dtype=np.intp)
        return replace(
            self,
            startprob=self.startprob[index],
            transmat=self.transmat[np.ix_(index, index)],
            means=self.means[index],
            covars=self.covars[index],
        )

    def model_id(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def _canonical_order(means: NDArray[np.float64], covars: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.lexsort((means[:, 0], -covars[:, 0, 0]))


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


def state_distances(old: RegimeModel, new: RegimeModel) -> NDArray[np.float64]:
    """``[i, j]``: how unlike old state i and new state j are (squared standardised mean gap + log-variance gap)."""
    old_var = np.diagonal(old.covars, axis1=1, axis2=2)
    new_var = np.diagonal(new.covars, axis1=1, axis2=2)
    scale = np.sqrt(old_var.mean(axis=0))  # one scale per feature, so returns and volatilities weigh alike
    mean_gap = ((old.means[:, None, :] - new.means[None, :, :]) / scale) ** 2
    var_gap = (np.log(old_var)[:, None, :] - np.log(new_var)[None, :, :]) ** 2
    return np.asarray((mean_gap + var_gap).sum(axis=2))


def match_states(old: RegimeModel, new: RegimeModel) -> list[int]:
    """For each old label i, the new state that takes it: the assignment of least total distance.

    K is at most 6, so every assignment (720 at most) is tried: exact, like the Hungarian
    method, and deterministic on ties (the first in lexicographic order wins).
    """
    cost = state_distances(old, new)
    k = cost.shape[0]
    best = min(itertools.permutations(range(k)), key=lambda perm: float(sum(cost[i, perm[i]] for i in range(k))))
    return list(best)


def nearest_states(old: RegimeModel, new: RegimeModel) -> list[int]:
    """For each old label, the closest new state (models of different sizes: a regime carried across a resize)."""
    return [int(j) for j in state_distances(old, new).argmin(axis=1)]


def parameter_count(n_states: int, n_features: int) -> int:
    """Free parameters of a full-covariance Gaussian HMM: start, transitions, means, covariances."""
    k, d = n_states, n_features
    return (k - 1) + k * (k - 1) + k * d + k * d * (d + 1) // 2


def fit(
    X: NDArray[np.float64],
    options: FitOptions,
    *,
    previous: RegimeModel | None = None,
    warm: Mapping[int, RegimeModel] | None = None,
) -> RegimeModel:
    """The fitted model, labels matched to ``previous`` when it has as many states.

    ``warm`` (``auto_states`` only): the last fit of each size, to start EM from (see :func:`fit_auto`).
    """
    if options.auto_states is not None:
        return fit_auto(X, options, previous=previous, warm=warm)[0]
    model = _fit_states(X, options, previous=previous)
    if previous is not None and previous.n_states == model.n_states:
        model = model.permuted(match_states(previous, model))
    return model


def fit_auto(
    X: NDArray[np.float64],
    options: FitOptions,
    *,
    previous: RegimeModel | None = None,
    warm: Mapping[int, RegimeModel] | None = None,
) -> tuple[RegimeModel, dict[int, RegimeModel]]:
    """Each number of states in the range, fitted; the one of least BIC wins (ties: fewer states).

    Returns the winner and every usable fit by size: kept by the caller as the next refit's
    ``warm`` starts, so each size refits from its own last fit rather than from cold restarts.
    """
    assert options.auto_states is not None
    fewest, most = options.auto_states
    scores: dict[str, float | None] = {}
    fitted: dict[int, RegimeModel] = {}
    bic: dict[int, float] = {}
    for k in range(fewest, most + 1):
        start = previous if previous is not None and previous.n_states == k else (warm or {}).get(k)
        restarts = options.restarts if start is not None else max(2, options.restarts)  # cold ones are needed
        sized = replace(options, n_states=k, auto_states=None, restarts=restarts)
        try:
            model = _fit_states(X, sized, previous=start)
        except DegenerateFit:
            scores[str(k)] = None
            continue
        if previous is not None and previous.n_states == k:
            model = model.permuted(match_states(previous, model))
        fitted[k] = model
        bic[k] = -2 * model.log_likelihood + parameter_count(k, X.shape[1]) * math.log(len(X))
        scores[str(k)] = bic[k]
    if not bic:
        raise DegenerateFit(f"no number of regimes from {fewest} to {most} gives a usable model")
    chosen = min(bic, key=lambda k: (bic[k], k))
    return replace(fitted[chosen], selection={"criterion": "bic", "scores": scores, "chosen": chosen}), fitted


def _fit_states(X: NDArray[np.float64], options: FitOptions, *, previous: RegimeModel | None) -> RegimeModel:
    """Best of ``options.restarts`` EM runs (plus a warm start from ``previous``), in canonical order."""
    from hmmlearn.hmm import GaussianHMM

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
