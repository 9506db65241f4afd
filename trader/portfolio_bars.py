"""A portfolio's bars: one series per symbol, cut to the dates every series has.

The engine decides all symbols at once at each bar, so bar t must be the same day in every
series. A date missing from one series (a holiday on one exchange, a gap in a file) is
dropped from all: trading the others on it would judge one symbol on a stale close. What
was dropped is returned, so a caller can say it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from trader.bars import BarDataError, Bars


@dataclass(frozen=True)
class Aligned:
    bars: dict[str, Bars]  # symbol -> bars on the common dates, in the order given
    dropped: dict[str, int]  # symbol -> how many of its bars fell on a date another series lacks


def align(series: Mapping[str, Bars]) -> Aligned:
    """Every series cut to the dates all of them hold."""
    if not series:
        raise BarDataError("a portfolio needs at least one symbol's bars")
    common = set.intersection(*(set(bars.dates) for bars in series.values()))
    if not common:
        raise BarDataError(f"the series of {', '.join(series)} share no date: they cannot be traded together")
    aligned: dict[str, Bars] = {}
    dropped: dict[str, int] = {}
    for symbol, bars in series.items():
        keep = np.fromiter((day in common for day in bars.dates), dtype=bool, count=len(bars))
        aligned[symbol] = _subset(bars, keep)
        dropped[symbol] = int(len(bars) - keep.sum())
    return Aligned(aligned, dropped)


def _subset(bars: Bars, keep: np.ndarray) -> Bars:
    dates: tuple[date, ...] = tuple(day for day, kept in zip(bars.dates, keep, strict=True) if kept)
    return Bars(dates, bars.open[keep], bars.high[keep], bars.low[keep], bars.close[keep], bars.volume[keep])
