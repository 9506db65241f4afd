"""Performance metrics from an equity series (daily bars: 252 per year)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

YEAR = 252


def performance(equity: Sequence[float], exposure: Sequence[float] | None = None) -> dict[str, float]:
    values = np.asarray(equity, dtype=np.float64)
    returns = np.diff(values) / values[:-1]
    years = len(returns) / YEAR
    cagr = (values[-1] / values[0]) ** (1 / years) - 1 if years > 0 else 0.0
    vol = float(returns.std(ddof=1) * math.sqrt(YEAR)) if len(returns) > 1 else 0.0
    mean = float(returns.mean() * YEAR) if len(returns) else 0.0
    downside = returns[returns < 0]
    downside_vol = float(math.sqrt((downside**2).sum() / len(returns)) * math.sqrt(YEAR)) if len(returns) else 0.0
    peaks = np.maximum.accumulate(values)
    max_dd = float((1 - values / peaks).max())
    out = {
        "cagr": float(cagr),
        "annual_volatility": vol,
        "sharpe": mean / vol if vol > 0 else 0.0,
        "sortino": mean / downside_vol if downside_vol > 0 else 0.0,
        "max_drawdown": max_dd,
        "calmar": float(cagr) / max_dd if max_dd > 0 else 0.0,
    }
    if exposure is not None:
        out["average_exposure"] = float(np.mean(np.abs(exposure)))
    return out
