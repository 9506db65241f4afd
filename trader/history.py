"""Daily history from a venue for backtests: ``alpaca:SPY``, ``alpaca:BTC/USD``, ``ccxt:binance:BTC/USDT``.

Downloaded through the same adapters live bots use (so a backtest and a live bot read the
same bars), then cached as a CSV keyed by source, symbol and date range: a second run of
the same backtest reads the file and makes no network call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from trader.bars import BarDataError, Bars, load_csv, write_csv
from trader.live_feed import BarTimes
from trader.venue import ALPACA_URL_ENV, EXCHANGE_URL_ENV, Venue, VenueError


@dataclass(frozen=True)
class HistorySpec:
    venue: str  # "alpaca" or "ccxt"
    exchange: str | None
    symbol: str

    @classmethod
    def parse(cls, data: str) -> HistorySpec | None:
        """None when ``data`` names no venue (bundled data or a file)."""
        kind, sep, rest = data.partition(":")
        if not sep or kind not in ("alpaca", "ccxt"):
            return None
        if kind == "alpaca":
            if not rest:
                raise BarDataError("--data alpaca:SYMBOL needs a symbol, e.g. alpaca:SPY or alpaca:BTC/USD")
            return cls("alpaca", None, rest.upper())
        exchange, sep, symbol = rest.partition(":")
        if not sep or not exchange or "/" not in symbol:
            raise BarDataError("--data ccxt:EXCHANGE:BASE/QUOTE, e.g. ccxt:binance:BTC/USDT")
        return cls("ccxt", exchange.lower(), symbol.upper())

    @property
    def crypto(self) -> bool:
        return "/" in self.symbol

    def cache_file(self, cache_dir: Path, start: date, end: date) -> Path:
        source = self.venue if self.exchange is None else f"{self.venue}-{self.exchange}"
        return cache_dir / f"{source}-{self.symbol.replace('/', '-')}-1d-{start}-{end}.csv"


@dataclass(frozen=True)
class Keys:
    key: str
    secret: str


def history_venue(spec: HistorySpec, keys: Keys, env: Mapping[str, str]) -> Venue:
    if spec.venue == "alpaca":
        from trader.venues.alpaca import AlpacaVenue

        return AlpacaVenue(keys.key, keys.secret, paper=True, base_url=env.get(ALPACA_URL_ENV) or None)
    from trader.venues.ccxt_venue import CcxtVenue

    assert spec.exchange is not None
    return CcxtVenue.create(spec.exchange, keys.key, keys.secret, base_url=env.get(EXCHANGE_URL_ENV) or None)


def load_history(
    spec: HistorySpec, keys: Keys, *, start: date, end: date, cache_dir: Path, env: Mapping[str, str]
) -> Bars:
    """Daily bars of ``spec`` from ``start`` to ``end`` (inclusive), from the cache or the venue."""
    path = spec.cache_file(cache_dir, start, end)
    if path.exists():
        return load_csv(path)
    bars = asyncio.run(_download(spec, keys, start, end, env))
    if len(bars) == 0:
        raise BarDataError(f"{spec.venue}:{spec.symbol} has no daily bars from {start} to {end}")
    write_csv(bars, path)
    return bars


async def _download(spec: HistorySpec, keys: Keys, start: date, end: date, env: Mapping[str, str]) -> Bars:
    from trader.live_feed import VenueFeed

    venue = history_venue(spec, keys, env)
    try:
        clock = await venue.clock() if spec.venue == "alpaca" else None
        now = clock.now if clock is not None else datetime.now(UTC)
        fetched = await venue.bars(
            spec.symbol,
            "1d",
            datetime.combine(start, time(), UTC),
            datetime.combine(end + timedelta(days=1), time(), UTC),
        )
    except VenueError as exc:
        raise BarDataError(str(exc)) from None
    finally:
        await venue.close()
    times = BarTimes("1d", spec.crypto)
    closed = [bar for bar in sorted(fetched, key=lambda b: b.start) if times.close_of(bar) <= now]
    return VenueFeed.bars_of(closed, times)
