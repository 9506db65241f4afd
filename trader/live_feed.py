"""A live feed: a warm-up backfill from the venue, then each new closed bar, kept on disk.

Bars come from the venue's REST bars endpoint, polled at each bar close — not from its
stream. A poll is idempotent (the same request gives the same closed bars, and a bar
already cached is never appended twice), while a stream re-delivers bars on every
reconnect and Alpaca allows one data-stream connection per account, which ten bots on one
account could not share. The cost is a poll interval of latency after each close.

The bars a bot has seen are appended to ``bars-<symbol>-<interval>.csv`` in its state
folder, so bar indices stay stable across restarts (the checkpoint counts bars) and a
restart only asks for what is new. Daily stock bars are sessions of the XNYS calendar
(``exchange-calendars``): a session's bar counts as closed at its close, early closes
included. Intraday and crypto bars are closed at ``start + interval``.

A portfolio bot reads one ``VenueFeed`` per symbol through ``VenueBookFeed``, which serves
only the bars every symbol has closed (see its docstring).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from trader.bars import Bars
from trader.venue import Venue, VenueBar, VenueClock

INTERVALS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
NEW_YORK = ZoneInfo("America/New_York")
WARMUP_MARGIN_BARS = 30  # features look back up to ~20 bars before the training window starts


@cache
def _xnys(year: int) -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS", start=f"{year - 6}-01-01", end=f"{year + 1}-12-31")


def _utc(timestamp: Any) -> datetime:
    """A pandas Timestamp from exchange-calendars as a plain aware datetime."""
    value: datetime = timestamp.to_pydatetime()
    return value


@dataclass(frozen=True)
class BarTimes:
    """When bars close for one symbol and interval: the XNYS calendar for stocks, the clock for crypto."""

    interval: str
    crypto: bool

    @property
    def length(self) -> timedelta:
        return INTERVALS[self.interval]

    @property
    def sessions(self) -> bool:
        return not self.crypto and self.interval == "1d"

    def label(self, bar: VenueBar) -> date | datetime:
        """What the engine calls the bar: a session date for daily stock bars, else its start (UTC)."""
        if self.sessions:
            return bar.start.astimezone(NEW_YORK).date()
        if self.interval == "1d":
            return bar.start.astimezone(UTC).date()
        return bar.start.astimezone(UTC)

    def close_of(self, bar: VenueBar) -> datetime:
        if self.sessions:
            session = bar.start.astimezone(NEW_YORK).date()
            return _utc(_xnys(session.year).session_close(session))
        return bar.start + self.length

    def next_close_after(self, close: datetime) -> datetime:
        """When the bar after one that closed at ``close`` closes (skipping nights and holidays for stocks)."""
        if self.sessions:
            calendar = _xnys(close.year)
            session = calendar.date_to_session(close.astimezone(NEW_YORK).date(), "next")
            if calendar.session_close(session).to_pydatetime() <= close:
                session = calendar.next_session(session)
            return _utc(calendar.session_close(session))
        following = close + self.length
        if self.crypto:
            return following
        calendar = _xnys(close.year)
        if calendar.is_open_on_minute(following - timedelta(minutes=1)):
            return following
        return _utc(calendar.next_open(following)) + self.length

    def is_fresh(self, bar: VenueBar, now: datetime) -> bool:
        """``bar`` is the newest that has closed by ``now``: an order on its close is not on an old price."""
        return now < self.next_close_after(self.close_of(bar))

    def backfill_start(self, now: datetime, bars: int) -> datetime:
        days = bars * self.length / timedelta(days=1)
        if not self.crypto:
            days *= 7 / 5 * (24 / 6.5 if self.interval != "1d" else 1.0)
        return now - timedelta(days=math.ceil(days * 1.05) + 7)


class VenueFeed:
    """``available()`` for the runner, plus the freshness facts only a live feed has."""

    def __init__(self, venue: Venue, symbol: str, interval: str, cache_dir: Path, *, warmup_bars: int, crypto: bool):
        self.venue, self.symbol = venue, symbol
        self.times = BarTimes(interval, crypto)
        self.name = f"{venue.name}:{symbol}:{interval}"
        self._warmup = warmup_bars + WARMUP_MARGIN_BARS
        safe = symbol.replace("/", "-")
        self._path = cache_dir / f"bars-{safe}-{interval}.csv"
        self._bars: list[VenueBar] = _read(self._path)
        self.now: datetime | None = None

    async def available(self, clock: VenueClock | None = None) -> Bars:
        """Every closed bar so far; ``clock``: the venue's time when a caller already asked (one instant for all)."""
        clock = clock or await self.venue.clock()
        self.now = clock.now
        start = self._bars[-1].start if self._bars else self.times.backfill_start(clock.now, self._warmup)
        fetched = await self.venue.bars(self.symbol, self.times.interval, start)
        last = self._bars[-1].start if self._bars else None
        new = [
            bar
            for bar in sorted({bar.start: bar for bar in fetched}.values(), key=lambda b: b.start)
            if (last is None or bar.start > last) and self.times.close_of(bar) <= clock.now
        ]
        if last is None:
            new = new[-self._warmup :]  # a first start decides on the newest bars only, not on weeks of history
        if new:
            _append(self._path, new)
            self._bars.extend(new)
        return self.as_bars()

    def as_bars(self) -> Bars:
        return self.bars_of(self._bars, self.times)

    @property
    def cached(self) -> list[VenueBar]:
        """The closed bars seen so far, oldest first (what ``bars-<symbol>-<interval>.csv`` holds)."""
        return self._bars

    @staticmethod
    def bars_of(rows: list[VenueBar], times: BarTimes) -> Bars:
        return Bars(
            tuple(times.label(bar) for bar in rows),
            np.array([bar.open for bar in rows], dtype=np.float64),
            np.array([bar.high for bar in rows], dtype=np.float64),
            np.array([bar.low for bar in rows], dtype=np.float64),
            np.array([bar.close for bar in rows], dtype=np.float64),
            np.array([bar.volume for bar in rows], dtype=np.float64),
        )

    def next_due(self) -> datetime | None:
        """When the next bar closes (the venue's time), or None before the first bar."""
        if not self._bars:
            return None
        return self.times.next_close_after(self.times.close_of(self._bars[-1]))

    def is_fresh(self, index: int, now: datetime) -> bool:
        """Bar ``index`` is the newest that has closed by ``now``: an order on its close is not on an old price."""
        return self.times.is_fresh(self._bars[index], now)

    def stale_reason(self, now: datetime, grace: timedelta) -> str | None:
        due = self.next_due()
        if due is None or now <= due + grace:
            return None
        last = self._bars[-1]
        return (
            f"no new {self.times.interval} bar for {self.symbol} from {self.venue.name} since the one of "
            f"{self.times.label(last)}: the next was due at {due:%Y-%m-%d %H:%M} UTC; nothing is traded on an old price"
        )


class VenueBookFeed:
    """A bot's ``Feed`` on a venue: one ``VenueFeed`` per symbol, served on the bar dates all of them have.

    A bar counts as closed for the bot only once every symbol has it (stocks share the XNYS
    calendar, crypto the clock), so a symbol whose bars are late holds the whole bot rather
    than letting the others trade on without it. The dates kept are the intersection of the
    symbols' cached bars, as ``trader.portfolio_bars.align`` cuts them. Each cache only grows
    past its own last bar, so the intersection only grows at its end: bar indices never shift
    mid-run or across a restart (the checkpoint counts bars). A date one symbol never gets
    while the others move on is dropped for all, like ``align`` does for files.
    """

    def __init__(self, feeds: Sequence[VenueFeed]) -> None:
        if not feeds:
            raise ValueError("a venue book feed needs at least one symbol's feed")
        self.feeds = {feed.symbol: feed for feed in feeds}
        self.symbols = tuple(self.feeds)
        first = feeds[0]
        self.venue, self.times = first.venue, first.times
        together = f"{first.venue.name}:{'+'.join(self.symbols)}:{first.times.interval}"
        self.name = first.name if len(feeds) == 1 else together
        self.now: datetime | None = None
        self._rows: dict[str, list[VenueBar]] = {symbol: [] for symbol in self.symbols}

    async def available(self) -> dict[str, Bars]:
        """Every symbol's closed bars on the dates all of them hold, in the bot's symbol order."""
        clock = await self.venue.clock()  # one instant for every symbol: a bar closing mid-poll counts for none
        for feed in self.feeds.values():
            await feed.available(clock)
        self.now = clock.now
        self._rows = self._aligned()
        return self.as_bars()

    def as_bars(self) -> dict[str, Bars]:
        return {symbol: VenueFeed.bars_of(rows, self.times) for symbol, rows in self._rows.items()}

    def _aligned(self) -> dict[str, list[VenueBar]]:
        labels = [{self.times.label(bar) for bar in feed.cached} for feed in self.feeds.values()]
        common = set.intersection(*labels)
        label = self.times.label
        return {symbol: [bar for bar in feed.cached if label(bar) in common] for symbol, feed in self.feeds.items()}

    def is_fresh(self, index: int, now: datetime) -> bool:
        """Aligned bar ``index`` is every symbol's newest closed bar by ``now``."""
        return all(self.times.is_fresh(rows[index], now) for rows in self._rows.values())

    def stale_reason(self, now: datetime, grace: timedelta) -> str | None:
        """Why the bot is waiting for data (the first symbol whose next bar is overdue), or None."""
        for feed in self.feeds.values():
            reason = feed.stale_reason(now, grace)
            if reason is not None:
                if len(self.feeds) > 1:
                    reason += f"; all {len(self.feeds)} symbols wait for it, so none trades on a date another lacks"
                return reason
        return None


def _read(path: Path) -> list[VenueBar]:
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    out = []
    for row in csv.reader(lines[:-1]):  # the last piece has no newline: empty, or torn by a crash (fetched again)
        start, *values = row
        out.append(VenueBar(datetime.fromisoformat(start), *map(float, values)))
    return out


def _append(path: Path, bars: list[VenueBar]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        for bar in bars:
            writer.writerow(
                [
                    bar.start.isoformat(),
                    repr(bar.open),
                    repr(bar.high),
                    repr(bar.low),
                    repr(bar.close),
                    repr(bar.volume),
                ]
            )
        handle.flush()
