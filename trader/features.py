"""Per-bar features, strictly causal: row t is computed from bars 0..t only.

Returns are in percent (log returns x 100): hmmlearn's default covariance prior
distorts the tiny variances of decimal returns.
"""

from __future__ import annotations

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
    """Row ``t`` alone, from the last ``LOOKBACK`` bars up to t: equal to ``compute(bars)[t]``."""
    row_t: NDArray[np.float64] = compute(bars.slice(max(0, t + 1 - LOOKBACK), t + 1), names)[-1]
    return row_t


def first_complete_row(matrix: NDArray[np.float64]) -> int:
    """Index of the first row with no NaN (the warm-up before it is not used)."""
    complete = np.flatnonzero(~np.isnan(matrix).any(axis=1))
    if len(complete) == 0:
        raise FeatureError("not enough bars to compute the features")
    return int(complete[0])
