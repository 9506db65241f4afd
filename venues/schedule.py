"""Trading days as numbered intervals: XNYS sessions (exchange_calendars) or 24/7 calendar days.

Both calendars number their days from :data:`EPOCH` on, so a day's number (which seeds its
prices) never depends on when the emulator started. A 24/7 "day" runs from 00:00 to 24:00 UTC;
an XNYS day is the regular session, early closes included.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Session = Literal["XNYS", "24/7"]
EPOCH = date(1990, 1, 1)
_EPOCH_TS = datetime(EPOCH.year, EPOCH.month, EPOCH.day, tzinfo=UTC).timestamp()
_DAY_S = 86_400
_YEARS_AHEAD = 6  # the XNYS schedule is built this far past today and extended on demand


class Schedule:
    """Days numbered 0, 1, …; open/close in epoch seconds (UTC). This one: a stored list (XNYS)."""

    def __init__(self, opens: list[float], closes: list[float], dates: list[date]) -> None:
        self._opens, self._closes, self._dates = opens, closes, dates

    def index_at(self, t: float) -> int:
        """The last day that opened at or before ``t`` (-1 before the first)."""
        return bisect.bisect_right(self._opens, t) - 1

    def index_of(self, day: date) -> int | None:
        """The day trading on ``day``, or None when that date has no session."""
        i = bisect.bisect_left(self._dates, day)
        return i if i < len(self._dates) and self._dates[i] == day else None

    def open_of(self, i: int) -> float:
        return self._opens[i]

    def close_of(self, i: int) -> float:
        return self._closes[i]

    def date_of(self, i: int) -> date:
        return self._dates[i]


class AlwaysOpen(Schedule):
    """24/7: day ``i`` is the UTC calendar day ``EPOCH + i`` (computed, never stored)."""

    def __init__(self) -> None:
        super().__init__([], [], [])

    def index_at(self, t: float) -> int:
        return int((t - _EPOCH_TS) // _DAY_S)

    def index_of(self, day: date) -> int | None:
        return (day - EPOCH).days

    def open_of(self, i: int) -> float:
        return _EPOCH_TS + i * _DAY_S

    def close_of(self, i: int) -> float:
        return _EPOCH_TS + (i + 1) * _DAY_S

    def date_of(self, i: int) -> date:
        return EPOCH + timedelta(days=i)


_xnys_lock = threading.Lock()
_xnys: Schedule | None = None
_xnys_until: date | None = None


def xnys_schedule(covering: date) -> Schedule:
    """The XNYS sessions from EPOCH to at least ``covering`` (+ a few years), built once per process."""
    global _xnys, _xnys_until
    with _xnys_lock:
        if _xnys is None or _xnys_until is None or covering > _xnys_until:
            import exchange_calendars  # slow import; only a stock symbol needs it

            until = date(max(covering.year, datetime.now(UTC).year) + _YEARS_AHEAD, 12, 31)
            with warnings.catch_warnings():  # pandas deprecation noise from inside exchange_calendars
                warnings.simplefilter("ignore")
                calendar = exchange_calendars.get_calendar("XNYS", start=EPOCH.isoformat(), end=until.isoformat())
                frame = calendar.schedule
            opens = [ts.timestamp() for ts in frame["open"]]
            closes = [ts.timestamp() for ts in frame["close"]]
            dates = [ts.date() for ts in frame.index]
            _xnys, _xnys_until = Schedule(opens, closes, dates), until
        return _xnys
