"""How well the current model still describes the market, bar by bar, and which regimes are calm.

Two signals go into every audit record (``drift``):

- ``entropy``: the filtered posterior's entropy over log K, from 0 (one regime is certain)
  to 1 (the model cannot tell the regimes apart);
- ``surprise``: how much less likely this bar was than the training window's bars, in
  standard deviations of their predictive log-likelihood (0 is typical; above 3 is a bar
  the model finds very unusual, and a run of them says the market has moved away from
  what the model learnt: a refit is due or the model no longer fits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from trader.model import RegimeModel

UNUSUAL = 3.0  # surprise, in standard deviations, above which a bar is flagged


def baseline(log_likelihoods: Sequence[float]) -> dict[str, float]:
    """Mean and spread of the per-bar predictive log-likelihood over a training window."""
    values = np.asarray(log_likelihoods, dtype=np.float64)
    if len(values) < 2:
        return {"mean": float(values.mean()) if len(values) else 0.0, "std": 1.0}
    return {"mean": float(values.mean()), "std": float(max(values.std(ddof=1), 1e-9))}


def signal(model: RegimeModel, probabilities: NDArray[np.float64], log_likelihood: float) -> dict[str, float | bool]:
    k = len(probabilities)
    positive = probabilities[probabilities > 0]
    entropy = float(-(positive * np.log(positive)).sum() / math.log(k)) if k > 1 else 0.0
    base = model.surprise_baseline or {"mean": log_likelihood, "std": 1.0}
    surprise = (base["mean"] - log_likelihood) / base["std"]
    return {"entropy": round(entropy, 6), "surprise": round(surprise, 6), "unusual": surprise > UNUSUAL}


def calm_states(model: RegimeModel, feature_names: Sequence[str]) -> frozenset[int]:
    """The low-volatility regimes: return variance at most the median of the states'.

    Volatility is read from the log return's variance when it is a feature, else from the
    realised volatility's mean, else from the first feature's variance. With two regimes
    the calmer one qualifies, with three the two calmer ones.
    """
    names = list(feature_names)
    if "log_return" in names:
        i = names.index("log_return")
        spread = model.covars[:, i, i]
    elif "realized_vol" in names:
        spread = model.means[:, names.index("realized_vol")]
    else:
        spread = model.covars[:, 0, 0]
    cut = float(np.median(spread))
    return frozenset(int(k) for k in np.flatnonzero(spread <= cut))
