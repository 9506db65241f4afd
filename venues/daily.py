"""Daily OHLCV per (symbol, day number): a seeded regime-switching generator, or a replayed series.

Day numbers come from :mod:`venues.schedule` (XNYS sessions or 24/7 calendar days since the
epoch), so the same symbol on the same day always gets the same bar, whenever it is asked.

* :class:`SyntheticDaily` draws daily log returns from a 3-state Markov chain (calm bull,
  choppy sideways, volatile bear: different drift *and* volatility, persistent day to day)
  so a Gaussian HMM has real regimes to find. A weak pull toward a slowly rising trend keeps
  decades of history at sane price levels. It is generated sequentially from day 0 in
  chunks with their own seeds (≈10k days take milliseconds) and cached per symbol.
* :class:`ReplayedDaily` replays a daily series (bundled S&P 500 / NASDAQ, or a CSV) with
  position ``anchor_pos`` landing on day ``anchor_day``; before its start and past its end it
  wraps around, each wrap scaled by (last close / first open) so prices stay continuous.
* :func:`synthetic_bars` hands the first days of :class:`SyntheticDaily` to backtests as ``Bars``
  with the regime behind every bar: the known truth for checking regime detection
  (``bench/regimes.py``, docs/regimes.md).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.bars import Bars
from venues.schedule import AlwaysOpen


@dataclass(frozen=True)
class DailyBar:
    open: float
    high: float
    low: float
    close: float
    volume: float


def stable_seed(*parts: object) -> int:
    """A seed from the parts that is the same in every process (``hash()`` is salted per process)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# (daily drift, daily volatility) per regime, and the day-to-day transition matrix
REGIMES: tuple[tuple[float, float], ...] = ((0.0008, 0.007), (0.0, 0.012), (-0.0016, 0.026))
TRANSITIONS = np.array([[0.985, 0.012, 0.003], [0.02, 0.965, 0.015], [0.012, 0.038, 0.95]])
_CHUNK = 1024
_TREND_PER_DAY = 0.0002
_PULL = 0.002


class SyntheticDaily:
    """The seeded regime-switching series; :meth:`regime` tells tests which state a day was in."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._series: dict[str, dict[str, NDArray[np.float64]]] = {}

    def bar(self, symbol: str, day: int) -> DailyBar:
        s = self._covering(symbol, day)
        return DailyBar(
            float(s["open"][day]), float(s["high"][day]), float(s["low"][day]), float(s["close"][day]),
            float(s["volume"][day]),
        )  # fmt: skip

    def regime(self, symbol: str, day: int) -> int:
        return int(self._covering(symbol, day)["regime"][day])

    def _covering(self, symbol: str, day: int) -> dict[str, NDArray[np.float64]]:
        if day < 0:
            raise ValueError(f"day {day} is before the simulated market's epoch")
        with self._lock:
            series = self._series.get(symbol)
            have = 0 if series is None else len(series["close"])
            if day >= have:
                series = self._extend(symbol, series, (day // _CHUNK + 1) * _CHUNK)
                self._series[symbol] = series
            assert series is not None
            return series

    def _extend(
        self, symbol: str, series: dict[str, NDArray[np.float64]] | None, length: int
    ) -> dict[str, NDArray[np.float64]]:
        base = math.log(20.0 + stable_seed(self.seed, symbol, "price") % 480)
        cols: dict[str, list[float]] = {k: [] for k in ("open", "high", "low", "close", "volume", "regime")}
        if series is None:
            start, log_close, state = 0, base, 1
        else:
            start = len(series["close"])
            log_close, state = math.log(float(series["close"][-1])), int(series["regime"][-1])
            for key in cols:
                cols[key] = series[key].tolist()
        cumulative = [np.cumsum(row).tolist() for row in TRANSITIONS]
        for chunk in range(start // _CHUNK, length // _CHUNK):
            rng = np.random.default_rng(stable_seed(self.seed, symbol, "chunk", chunk))
            draws = rng.standard_normal((_CHUNK, 4)).tolist()
            switches = rng.random(_CHUNK).tolist()
            volumes = rng.standard_normal(_CHUNK).tolist()
            for k in range(_CHUNK):
                day = chunk * _CHUNK + k
                state = min(bisect.bisect_right(cumulative[state], switches[k]), len(REGIMES) - 1)
                drift, vol = REGIMES[state]
                d_open, d_close, d_high, d_low = draws[k]
                log_open = log_close + 0.15 * vol * d_open
                log_close = log_open + drift + vol * d_close - _PULL * (log_open - base - _TREND_PER_DAY * day)
                cols["open"].append(math.exp(log_open))
                cols["high"].append(math.exp(max(log_open, log_close) + abs(0.5 * vol * d_high)))
                cols["low"].append(math.exp(min(log_open, log_close) - abs(0.5 * vol * d_low)))
                cols["close"].append(math.exp(log_close))
                cols["volume"].append(round(1e6 * (1 + state) * math.exp(0.3 * volumes[k])))
                cols["regime"].append(float(state))
        return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


class ReplayedDaily:
    """A finite daily series laid onto day numbers, wrapping (scaled) at both ends."""

    def __init__(self, bars: Bars, anchor_day: int, anchor_pos: int) -> None:
        if len(bars) < 2:
            raise ValueError("a replayed series needs at least two bars")
        self._bars = bars
        self._anchor_day, self._anchor_pos = anchor_day, anchor_pos
        self._wrap_ratio = float(bars.close[-1]) / float(bars.open[0])

    def bar(self, symbol: str, day: int) -> DailyBar:
        cycle, pos = divmod(self._anchor_pos + day - self._anchor_day, len(self._bars))
        scale = self._wrap_ratio**cycle
        b = self._bars
        return DailyBar(
            float(b.open[pos]) * scale,
            float(b.high[pos]) * scale,
            float(b.low[pos]) * scale,
            float(b.close[pos]) * scale,
            float(b.volume[pos]),
        )


@dataclass(frozen=True)
class LabelledBars:
    """Synthetic bars with the regime that generated each one (``regimes[t]`` drew bar ``t``)."""

    bars: Bars
    regimes: NDArray[np.int64]  # 0 calm bull, 1 choppy, 2 volatile bear: indices into REGIMES


def synthetic_bars(seed: int, n: int, symbol: str = "SYN") -> LabelledBars:
    """The first ``n`` days of :class:`SyntheticDaily` (the emulators' generator) as ``Bars``, with the truth.

    Same (seed, symbol) -> the same bars the emulators serve for days 0..n-1. Dates are the
    24/7 calendar's (day ``i`` is ``EPOCH + i``): the engine only needs them increasing.
    """
    if n < 1:
        raise ValueError(f"n={n}: ask for at least one bar")
    series = SyntheticDaily(seed)._covering(symbol, n - 1)
    calendar = AlwaysOpen()
    bars = Bars(
        tuple(calendar.date_of(i) for i in range(n)),
        *(series[column][:n].copy() for column in ("open", "high", "low", "close", "volume")),
    )
    return LabelledBars(bars, series["regime"][:n].astype(np.int64))
