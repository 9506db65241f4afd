"""One day's intraday price path: minute-boundary prices that reproduce the daily bar exactly.

``path[k]`` is the price at the start of minute ``k`` (``path[0]`` the open, ``path[-1]`` the
close). The path goes open → high → low → close or open → low → high → close (a seeded coin
picks), with a seeded Brownian bridge between those anchors, clipped into [low, high], so
every timeframe aggregated from it gives back the same daily open, high, low and close.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from venues.daily import DailyBar


def day_path(bar: DailyBar, minutes: int, seed: int) -> NDArray[np.float64]:
    """``minutes + 1`` prices; deterministic in (bar, minutes, seed)."""
    if minutes < 3:
        raise ValueError("a trading day needs at least three minutes")
    rng = np.random.default_rng(seed)
    first, second = (bar.high, bar.low) if rng.random() < 0.5 else (bar.low, bar.high)
    i1 = int(rng.integers(1, minutes // 2))
    i2 = int(rng.integers(minutes // 2, minutes))
    anchors = [(0, bar.open), (i1, first), (i2, second), (minutes, bar.close)]
    path = np.empty(minutes + 1, dtype=np.float64)
    scale = (bar.high - bar.low) * 0.35 / np.sqrt(minutes)
    for (a, pa), (b, pb) in itertools.pairwise(anchors):
        n = b - a
        steps = rng.standard_normal(n) * scale
        walk = np.concatenate(([0.0], np.cumsum(steps)))
        bridge = walk - np.linspace(0.0, 1.0, n + 1) * walk[-1]  # pinned to 0 at both ends
        path[a : b + 1] = np.linspace(pa, pb, n + 1) + bridge
    np.clip(path, bar.low, bar.high, out=path)
    for index, price in anchors:  # exact, not merely clipped to within a rounding error
        path[index] = price
    return path
