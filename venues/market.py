"""The simulated market both venue emulators serve: prices, bars and sessions on a sim clock.

Model (kept simple on purpose):

* Every (symbol, trading day) has one daily OHLCV bar (:mod:`venues.daily`) and one
  intraday path of minute-boundary prices through it (:mod:`venues.intraday`), seeded by
  (seed, source, symbol, day): any time's price is computed lazily, identical after a restart.
* Stocks trade XNYS regular sessions (early closes included; no extended hours); crypto
  symbols (``BTC/USD``, ``BTCUSDT``, ``BTCUSD``) trade 24/7 on UTC calendar days.
* Bars of every timeframe aggregate the same path. Intraday bars are aligned to UTC
  multiples of the timeframe (as Alpaca's are) and hold only session minutes; a daily bar
  starts at the session open (13:30/14:30 UTC for XNYS, 00:00 UTC for crypto). A bar is
  served only once it is fully closed on the sim clock (intraday: its bucket has ended;
  daily: the session has closed).
* ``price()`` is the last trade: during minute ``k`` of a session it is ``path[k]`` (the close
  of the minute bar before), and outside a session the last session's close.
* ``"sp500"``/``"nasdaq"``/a CSV file replay their daily series (stocks on XNYS sessions,
  crypto on calendar days) with the bar one year before the series' end landing on the
  clock's origin day, wrapping around (scaled, continuous) past either end. Every symbol
  of such a source follows the same series. ``"synthetic"`` is a seeded regime-switching
  generator, different per symbol. History goes back to 1990 either way (>2,000 daily bars
  before any clock start after 1998).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from trader.bars import BUNDLED, load_bundled, load_file
from venues.daily import DailyBar, ReplayedDaily, SyntheticDaily, stable_seed
from venues.intraday import day_path
from venues.schedule import AlwaysOpen, Schedule, Session, xnys_schedule
from venues.simclock import SimClock

__all__ = ["Bar", "Market", "Session", "SimClock", "session_for"]

_DAY_S = 86_400
_PATH_CACHE = 2048  # per-day paths kept (a crypto day is 1,441 floats)
_REPLAY_FUTURE = 252  # replayed series: this many real bars lie ahead of the clock's origin
CRYPTO_QUOTES = ("USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "EUR")
CRYPTO_BASES = frozenset(
    {"BTC", "ETH", "SOL", "DOGE", "LTC", "BCH", "AVAX", "LINK", "UNI", "AAVE", "DOT", "XRP", "ADA", "MATIC"}
    | {"SHIB", "BNB", "TRX", "XLM", "ETC", "PEPE", "USDT", "USDC"}
)


@dataclass(frozen=True)
class Bar:
    """One closed bar; ``start`` is its open time (aware UTC)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def session_for(symbol: str) -> Session:
    """``"24/7"`` for crypto pairs (``BTC/USD``, ``BTCUSDT``, ``ETHUSD``), else ``"XNYS"``."""
    s = symbol.upper()
    if "/" in s:
        return "24/7"
    for quote in CRYPTO_QUOTES:
        base = s[: -len(quote)]
        if s.endswith(quote) and base and (base in CRYPTO_BASES or quote in ("USDT", "USDC")):
            return "24/7"
    return "XNYS"


def _ts(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


_ALWAYS = AlwaysOpen()


class Market:
    """Prices, bars and sessions for any symbol, as of ``clock.now()``. Thread-safe."""

    def __init__(self, source: str, clock: SimClock, *, seed: int = 7) -> None:
        self.source, self.clock, self.seed = source, clock, seed
        self._synthetic = SyntheticDaily(seed) if source == "synthetic" else None
        self._replays: dict[Session, ReplayedDaily] = {}
        if self._synthetic is None:
            series = load_bundled(source) if source in BUNDLED else load_file(Path(source))
            anchor_pos = max(len(series) - 1 - _REPLAY_FUTURE, 0)
            origin = clock.origin.timestamp()
            for session in ("XNYS", "24/7"):
                anchor_day = max(self._schedule(session, origin).index_at(origin), 0)
                self._replays[session] = ReplayedDaily(series, anchor_day, anchor_pos)
        self._lock = threading.Lock()
        self._paths: OrderedDict[tuple[str, int], NDArray[np.float64]] = OrderedDict()

    # ---- sessions ---------------------------------------------------------------------

    def is_open(self, symbol: str, at: datetime | None = None) -> bool:
        t = self._at(at)
        sched = self._schedule(session_for(symbol), t)
        day = sched.index_at(t)
        return day >= 0 and t < sched.close_of(day)

    def next_open(self, symbol: str, at: datetime | None = None) -> datetime:
        """The next session open strictly after ``at`` (24/7: the next UTC midnight)."""
        t = self._at(at)
        sched = self._schedule(session_for(symbol), t)
        return _utc(sched.open_of(sched.index_at(t) + 1))

    def next_close(self, symbol: str, at: datetime | None = None) -> datetime:
        """The close of the session in progress, else of the next one (24/7: the next UTC midnight)."""
        t = self._at(at)
        sched = self._schedule(session_for(symbol), t)
        day = sched.index_at(t)
        return _utc(sched.close_of(day if day >= 0 and t < sched.close_of(day) else day + 1))

    def sessions(self, symbol: str, start: date, end: date) -> list[tuple[date, datetime, datetime]]:
        """(date, open, close) of every session with ``start <= date <= end``."""
        sched = self._schedule(session_for(symbol), _ts(datetime(end.year, end.month, end.day, tzinfo=UTC)))
        first = sched.index_at(_ts(datetime(start.year, start.month, start.day, tzinfo=UTC)))
        out = []
        for day in range(max(first, 0), sched.index_at(_ts(datetime(end.year, end.month, end.day, tzinfo=UTC))) + 2):
            when = sched.date_of(day)
            if start <= when <= end:
                out.append((when, _utc(sched.open_of(day)), _utc(sched.close_of(day))))
        return out

    # ---- prices -----------------------------------------------------------------------

    def price(self, symbol: str, at: datetime | None = None) -> float:
        """The last trade price at ``at`` (default now); outside a session, the last close."""
        t = self._at(at)
        session = session_for(symbol)
        sched = self._schedule(session, t)
        day = sched.index_at(t)
        if t >= sched.close_of(day):
            return self._daily(symbol, session, day).close
        return float(self._path(symbol, session, sched, day)[int((t - sched.open_of(day)) // 60)])

    def session_open_price(self, symbol: str, session_date: date) -> float:
        """The opening price of ``session_date``'s session (what a market-on-open order gets)."""
        session = session_for(symbol)
        when = datetime(session_date.year, session_date.month, session_date.day, tzinfo=UTC)
        day = self._schedule(session, _ts(when)).index_of(session_date)
        if day is None:
            raise ValueError(f"{symbol} has no session on {session_date.isoformat()}")
        return self._daily(symbol, session, day).open

    def bars(self, symbol: str, timeframe: timedelta, start: datetime, end: datetime | None = None) -> list[Bar]:
        """Bars fully closed by now with ``start <= bar.start < end``, oldest first."""
        tf = timeframe.total_seconds()
        if tf != _DAY_S and (tf % 60 or _DAY_S % tf):
            raise ValueError(f"unsupported timeframe {timeframe}: use whole minutes dividing a day, or one day")
        now = self._at(None)
        start_t, end_t = _ts(start), min(_ts(end) if end is not None else now, now)
        session = session_for(symbol)
        sched = self._schedule(session, now)
        day = max(sched.index_at(start_t), 0)
        out: list[Bar] = []
        while sched.open_of(day) < end_t:
            open_t, close_t = sched.open_of(day), sched.close_of(day)
            if tf == _DAY_S:
                if open_t >= start_t and close_t <= now:
                    d = self._daily(symbol, session, day)
                    out.append(Bar(_utc(open_t), d.open, d.high, d.low, d.close, d.volume))
            elif close_t > start_t:
                out.extend(
                    b
                    for b in self._intraday(symbol, session, sched, day, tf)
                    if start_t <= b.start.timestamp() < end_t and b.start.timestamp() + tf <= now
                )
            day += 1
        return out

    def daily(self, symbol: str, day_open: datetime) -> DailyBar:
        """The daily bar of the session open at or before ``day_open`` (for tests and tools)."""
        session = session_for(symbol)
        t = _ts(day_open)
        return self._daily(symbol, session, self._schedule(session, t).index_at(t))

    # ---- internals --------------------------------------------------------------------

    def _at(self, at: datetime | None) -> float:
        return _ts(at) if at is not None else self.clock.now().timestamp()

    @staticmethod
    def _schedule(session: Session, t: float) -> Schedule:
        return _ALWAYS if session == "24/7" else xnys_schedule(_utc(t).date())

    def _daily(self, symbol: str, session: Session, day: int) -> DailyBar:
        if self._synthetic is not None:
            return self._synthetic.bar(symbol, day)
        return self._replays[session].bar(symbol, day)

    def _path(self, symbol: str, session: Session, sched: Schedule, day: int) -> NDArray[np.float64]:
        key = (symbol, day)
        with self._lock:
            cached = self._paths.get(key)
            if cached is not None:
                self._paths.move_to_end(key)
                return cached
        minutes = round((sched.close_of(day) - sched.open_of(day)) / 60)
        path = day_path(self._daily(symbol, session, day), minutes, stable_seed(self.seed, self.source, symbol, day))
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > _PATH_CACHE:
                self._paths.popitem(last=False)
        return path

    def _intraday(self, symbol: str, session: Session, sched: Schedule, day: int, tf: float) -> list[Bar]:
        path = self._path(symbol, session, sched, day)
        minutes = len(path) - 1
        open_t = sched.open_of(day)
        buckets = (open_t + 60.0 * np.arange(minutes)) // tf
        starts = np.flatnonzero(np.diff(buckets, prepend=-1.0))
        ends = np.append(starts[1:], minutes)  # exclusive minute index
        highs = np.maximum.reduceat(np.maximum(path[:-1], path[1:]), starts)
        lows = np.minimum.reduceat(np.minimum(path[:-1], path[1:]), starts)
        volume = self._daily(symbol, session, day).volume
        return [
            Bar(
                _utc(float(buckets[s]) * tf),
                float(path[s]),
                float(highs[n]),
                float(lows[n]),
                float(path[e]),
                volume * float(e - s) / minutes,
            )
            for n, (s, e) in enumerate(zip(starts, ends, strict=True))
        ]
