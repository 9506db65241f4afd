"""Per-bar features, strictly causal: row t is computed from bars 0..t only.

Returns are in percent (log returns x 100): hmmlearn's default covariance prior
distorts the tiny variances of decimal returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from trader.bars import Bars

FEATURES = ("log_return", "realized_vol", "hl_range", "volume_z")
DEFAULT_WINDOW = 20


class FeatureError(ValueError):
    pass


def _trailing(values: NDArray[np.float64], window: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard deviation over the ``window`` values ending at each row (NaN before)."""
    mean = np.full(len(values), np.nan)
    std = np.full(len(values), np.nan)
    if len(values) >= window:
        view = np.lib.stride_tricks.sliding_window_view(values, window)
        mean[window - 1 :] = view.mean(axis=1)
        std[window - 1 :] = view.std(axis=1, ddof=1)
    return mean, std


def compute(bars: Bars, names: Sequence[str], *, window: int = DEFAULT_WINDOW) -> NDArray[np.float64]:
    """An (n_bars, n_features) matrix; rows before every feature is defined hold NaN."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise FeatureError(f"unknown feature(s) {', '.join(unknown)}: choose from {', '.join(FEATURES)}")
    log_return = np.full(len(bars), np.nan)
    log_return[1:] = 100.0 * np.diff(np.log(bars.close))
    columns = []
    for name in names:
        if name == "log_return":
            columns.append(log_return)
        elif name == "realized_vol":
            returns = np.nan_to_num(log_return, nan=0.0)
            _, vol = _trailing(returns, window)
            vol[:window] = np.nan  # the first window includes the undefined first return
            columns.append(vol)
        elif name == "hl_range":
            columns.append(100.0 * np.log(bars.high / bars.low))
        else:
            volume = np.log1p(bars.volume)
            mean, std = _trailing(volume, window)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (volume - mean) / std
            z[std == 0] = 0.0  # a flat window has no spread; warm-up rows stay NaN
            columns.append(z)
    return np.column_stack(columns)


LOOKBACK = DEFAULT_WINDOW + 2  # bars that determine one row: the window of returns needs one close more


def row(bars: Bars, t: int, names: Sequence[str]) -> NDArray[np.float64]:
    """Row ``t`` alone, from the last ``LOOKBACK`` bars up to t: equal to ``compute(bars)[t]``, bit for bit.

    The engine calls this once per bar, so once the look-back is full it computes the last row
    only: the same element-wise ufuncs on the same ``LOOKBACK``-bar slices (so vectorised
    ``log`` kernels see the same arrays) and each trailing window's mean and deviation as a
    1-D reduction of the window, which numpy sums as it does a row of ``compute``'s sliding
    windows (``tests/unit/trader/test_bars_features.py`` checks every row of three series).
    """
    start = t + 1 - LOOKBACK
    if start < 0 or len(bars) <= t:
        row_t: NDArray[np.float64] = compute(bars.slice(max(0, start), t + 1), names)[-1]
        return row_t
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise FeatureError(f"unknown feature(s) {', '.join(unknown)}: choose from {', '.join(FEATURES)}")
    out = np.empty(len(names))
    log_return: NDArray[np.float64] | None = None
    for i, name in enumerate(names):
        if name in ("log_return", "realized_vol") and log_return is None:
            log_close = np.log(bars.close[start : t + 1])
            log_return = 100.0 * (log_close[1:] - log_close[:-1])  # np.diff is this subtraction
        if name == "log_return":
            assert log_return is not None
            out[i] = log_return[-1]
        elif name == "realized_vol":
            assert log_return is not None
            window = log_return[-DEFAULT_WINDOW:]
            if not np.isfinite(window).all():
                window = np.nan_to_num(window, nan=0.0)
            out[i] = sample_std(window)
        elif name == "hl_range":
            out[i] = (100.0 * np.log(bars.high[start : t + 1] / bars.low[start : t + 1]))[-1]
        else:
            volume = np.log1p(bars.volume[start : t + 1])[-DEFAULT_WINDOW:]
            std = sample_std(volume)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[i] = 0.0 if std == 0 else (volume[-1] - np.add.reduce(volume) / len(volume)) / std
    return out


def sample_std(values: NDArray[np.float64]) -> float:
    """``float(np.std(values, ddof=1))`` of a 1-D array, bit for bit, without numpy's Python-level layers.

    The same operations in the same order as ``numpy._core._methods._var``: the array's sum
    over its length, the deviations squared and summed, over n - 1, then the square root (which
    IEEE 754 rounds the same in ``math`` and numpy). A per-bar hot spot, called a few times a bar.
    """
    n = len(values)
    deviations = values - np.add.reduce(values) / n
    return math.sqrt(np.add.reduce(deviations * deviations) / (n - 1))


def first_complete_row(matrix: NDArray[np.float64]) -> int:
    """Index of the first row with no NaN (the warm-up before it is not used)."""
    complete = np.flatnonzero(~np.isnan(matrix).any(axis=1))
    if len(complete) == 0:
        raise FeatureError("not enough bars to compute the features")
    return int(complete[0])
