"""Results per regime and per confidence bucket.

A decision bar is credited with the *next* bar's return: the position decided at bar t's
close is what earns (or loses) from close t to close t+1. The last decision has no next
bar and is left out, so a group's bars add up to the decisions minus one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.metrics import YEAR

CONFIDENCE_BUCKETS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.8), (0.8, 0.95), (0.95, 1.0))  # the last includes 1
NO_REGIME = "none"  # before the stability filter accepted a first regime

Record = dict[str, Any]


def _group(
    keys: Sequence[str], order: Sequence[str], strategy: NDArray[np.float64], market: NDArray[np.float64]
) -> dict[str, dict[str, Any]]:
    labels = np.array(keys)
    out: dict[str, dict[str, Any]] = {}
    for key in order:
        chosen = labels == key
        bars = int(chosen.sum())
        if not bars:
            continue
        mine, theirs = strategy[chosen], market[chosen]
        at_stake = mine[mine != 0]
        out[key] = {
            "bars": bars,
            "time_share": bars / len(keys),
            "strategy_mean_daily_return": float(mine.mean()),
            "strategy_annualised_return": float(mine.mean() * YEAR),
            "market_mean_daily_return": float(theirs.mean()),
            "market_annualised_return": float(theirs.mean() * YEAR),
            "strategy_hit_rate": float((at_stake > 0).mean()) if len(at_stake) else None,
            "market_hit_rate": float((theirs > 0).mean()),
        }
    return out


def by_regime(
    records: Sequence[Record], strategy: NDArray[np.float64], market: NDArray[np.float64]
) -> dict[str, dict[str, Any]]:
    """Next-bar returns grouped by the regime the bot acted on."""
    keys = [NO_REGIME if r["regime"] is None else str(r["regime"]) for r in records[:-1]]
    order = [*sorted({k for k in keys if k != NO_REGIME}, key=int), NO_REGIME]
    return _group(keys, order, strategy, market)


def bucket_label(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]" if high >= 1.0 else f"[{low:.2f}, {high:.2f})"


def _bucket_of(confidence: float) -> str:
    for low, high in CONFIDENCE_BUCKETS:
        if low <= confidence < high or (high >= 1.0 and confidence >= high):
            return bucket_label(low, high)
    raise ValueError(f"confidence {confidence} is not a probability")


def by_confidence(
    records: Sequence[Record], strategy: NDArray[np.float64], market: NDArray[np.float64]
) -> dict[str, dict[str, Any]]:
    """Next-bar returns grouped by the top state's filtered probability."""
    keys = [_bucket_of(float(r["confidence"])) for r in records[:-1]]
    order = [bucket_label(low, high) for low, high in CONFIDENCE_BUCKETS]
    return _group(keys, order, strategy, market)
