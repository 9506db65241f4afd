"""A bot's first model, fitted once by the control plane and shipped with the profile.

A hosted bot's first decision needs a fitted model, and the fit needs the fitting stack
(hmmlearn, which imports scikit-learn and scipy): about a second of imports and 125 MiB per
bot before its first tick, paid by every bot that boots on the same data and settings. The
control plane fits that first model once per set-up (``first_fits``) and ships it with the
profile; the bot takes a shipped model only when it is exactly the fit it would make itself:
the key is a digest of the training window's bytes, the fit options and the versions of the
fitting libraries, and the bot computes it from its own window (``regime_slot``). Anything
else (another window, other options, other versions, a malformed model) and the bot fits as
before. Portfolios, ``auto`` state counts and data the control plane cannot see (broker,
files) are fitted by the bot.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.model import FitOptions, RegimeModel

KEY_VERSION = "initial-model/1"
_FITTING_DISTRIBUTIONS = ("numpy", "hmmlearn", "scikit-learn", "scipy")
_MAX_MODELS = 20  # a portfolio's symbols at most
_MAX_STATES = 10
_MAX_FEATURES = 8


class InitialModelError(ValueError):
    """A shipped model that is not a valid model for this bot."""


@dataclass(frozen=True)
class InitialModel:
    key: str  # fit_key of the window and options it was fitted on
    model: RegimeModel


def _versions() -> str:
    found = []
    for name in _FITTING_DISTRIBUTIONS:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=none")
    return ",".join(found)


_VERSIONS = _versions()


def fit_key(window: NDArray[np.float64], options: FitOptions) -> str:
    """The identity of a fit: the same key means the same inputs to the same fitting code."""
    data = np.ascontiguousarray(window, dtype=np.float64)
    digest = hashlib.sha256()
    for part in (KEY_VERSION, _VERSIONS, json.dumps(asdict(options), sort_keys=True), repr(data.shape)):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(data.tobytes())
    return digest.hexdigest()


def to_json(models: list[InitialModel]) -> list[dict[str, Any]]:
    return [{"key": shipped.key, "model": shipped.model.to_json()} for shipped in models]


def from_json(data: object) -> dict[str, RegimeModel]:
    """Shipped models by key, each checked to be a well-formed HMM; ``InitialModelError`` naming what is wrong."""
    if not isinstance(data, list) or len(data) > _MAX_MODELS:
        raise InitialModelError(f"expected a list of at most {_MAX_MODELS} models")
    models: dict[str, RegimeModel] = {}
    for n, item in enumerate(data):
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or len(item["key"]) != 64:
            raise InitialModelError(f"model {n}: a key (64 hex digits) and a model are required")
        try:
            model = RegimeModel.from_json(dict(item["model"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InitialModelError(f"model {n}: {type(exc).__name__}: {exc}") from None
        _check(model, n)
        models[item["key"]] = model
    return models


def _check(model: RegimeModel, n: int) -> None:
    k = model.startprob.shape[0] if model.startprob.ndim == 1 else -1
    d = model.means.shape[1] if model.means.ndim == 2 else -1
    shapes_ok = (
        1 <= k <= _MAX_STATES
        and 1 <= d <= _MAX_FEATURES
        and model.transmat.shape == (k, k)
        and model.means.shape == (k, d)
        and model.covars.shape == (k, d, d)
    )
    if not shapes_ok:
        raise InitialModelError(f"model {n}: inconsistent shapes")
    arrays = (model.startprob, model.transmat, model.means, model.covars)
    if not all(np.isfinite(a).all() for a in arrays) or not math.isfinite(model.log_likelihood):
        raise InitialModelError(f"model {n}: a value is not finite")
    stochastic = [model.startprob, *model.transmat]
    if any((row < 0).any() or abs(float(row.sum()) - 1.0) > 1e-6 for row in stochastic):
        raise InitialModelError(f"model {n}: probabilities must be non-negative and sum to 1")
    for covar in model.covars:
        if not np.allclose(covar, covar.T):
            raise InitialModelError(f"model {n}: a covariance is not symmetric")
        try:
            np.linalg.cholesky(covar)
        except np.linalg.LinAlgError:
            raise InitialModelError(f"model {n}: a covariance is not positive definite") from None
