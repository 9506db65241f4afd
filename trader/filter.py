"""The online forward filter: P(state_t | x_0..x_t), one bar at a time.

The scaled forward recursion: alpha_t = normalise((alpha_{t-1} A) * b_t(x_t)), with the
emission densities shifted by their largest log value before exponentiating, so nothing
under- or overflows however extreme a bar is. O(K^2 + K d^2) per bar and no look-back:
the normalised alpha carries everything needed, and is the state to checkpoint. Decisions
use these filtered probabilities only; Viterbi paths and smoothed probabilities use the
future and never reach a decision.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from trader.model import RegimeModel


class OnlineFilter:
    def __init__(self, model: RegimeModel, *, state: NDArray[np.float64] | None = None) -> None:
        self.model = model
        k, d = model.means.shape
        self._k, self._d = k, d
        self._start = np.asarray(model.startprob, dtype=np.float64)
        self._trans = np.asarray(model.transmat, dtype=np.float64)
        chol = np.linalg.cholesky(model.covars)
        chol_inv = np.linalg.inv(chol)
        # z_k = L_k^-1 (x - mu_k) = (L_k^-1) x - L_k^-1 mu_k: one matrix product per bar for all states.
        self._whiten = chol_inv.reshape(k * d, d)
        self._whitened_means = np.einsum("kij,kj->ki", chol_inv, model.means).reshape(k * d)
        log_dets = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        self._log_norm = -0.5 * (d * math.log(2 * math.pi) + log_dets)
        self._alpha = None if state is None else np.asarray(state, dtype=np.float64).copy()
        self.last_log_likelihood = 0.0  # log p(x_t | x_0..x_t-1) of the last bar: how expected it was

    @property
    def state(self) -> NDArray[np.float64] | None:
        """The filtered probabilities of the last bar: checkpoint this, restore with ``state=``."""
        return None if self._alpha is None else self._alpha.copy()

    def log_emission(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self._whiten @ x - self._whitened_means
        z *= z
        return np.asarray(self._log_norm - 0.5 * z.reshape(self._k, self._d).sum(axis=1))

    def step(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Consume one bar's features; return the filtered state probabilities."""
        log_b = self.log_emission(x)
        shift = log_b.max()
        b = np.exp(log_b - shift)
        alpha: NDArray[np.float64] = (self._start if self._alpha is None else self._alpha @ self._trans) * b
        total = alpha.sum()
        self.last_log_likelihood = float(math.log(total) + shift)
        alpha /= total
        self._alpha = alpha
        return alpha
