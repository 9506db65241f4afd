"""Feeds: where a bot's bars come from (a port; the live broker feed implements it too).

A feed answers one question: which bars have closed so far, oldest first, for each symbol
the bot trades. The runner keeps track of how many it has consumed, so a feed needs no
cursor of its own and a restart simply asks again. Replays of bundled or file data return
the whole series; a file that grows (a daily export, say) shows its new bars on the next
call.

A portfolio's series come back aligned (``trader.portfolio_bars.align``): bar t is the same
date for every symbol, and a date one series lacks is dropped from all, so a bar counts
only once every symbol has it. Files that only grow keep every bar's index stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import structlog

from contracts.profile import BUNDLED_SERIES, BUNDLED_SYMBOLS, BotProfile
from trader.bars import BarDataError, Bars, load_bundled, load_file
from trader.portfolio_bars import align

log = structlog.get_logger(__name__)


class FeedError(ValueError):
    """The profile's data source cannot be served here; the message says why."""


class Feed(Protocol):
    name: str

    async def available(self) -> dict[str, Bars]:
        """Every symbol's bars that have closed so far, oldest first, aligned on common dates, in the bot's order."""
        ...


class BundledReplay:
    """The S&P 500 and/or NASDAQ daily bars that ``arch`` ships (``trader.bars.bundled_file``), loaded once.

    ``series`` maps each symbol to the bundled series it replays (``{"SPY": "sp500"}``).
    """

    def __init__(self, series: Mapping[str, str]) -> None:
        self.name = "bundled:" + "+".join(series.values())
        self._series = dict(series)
        self._bars: dict[str, Bars] | None = None

    async def available(self) -> dict[str, Bars]:
        if self._bars is None:
            self._bars = _aligned({symbol: load_bundled(name) for symbol, name in self._series.items()})
        return self._bars


class FileFeed:
    """A CSV or Parquet file per symbol, read again on every call so appended bars appear."""

    def __init__(self, paths: Mapping[str, Path], *, name: str | None = None) -> None:
        self._paths = dict(paths)
        self.name = name or ", ".join(map(str, self._paths.values()))

    async def available(self) -> dict[str, Bars]:
        if len(self._paths) == 1:  # one symbol: the file's own errors, word for word as always
            ((symbol, path),) = self._paths.items()
            return {symbol: load_file(path)}
        series: dict[str, Bars] = {}
        for symbol, path in self._paths.items():
            try:
                series[symbol] = load_file(path)
            except BarDataError as exc:
                raise FeedError(f"the bars of {symbol}: {exc}") from None
        return _aligned(series)


def feed_for(profile: BotProfile, *, base_dir: Path | None = None) -> Feed:
    """The feed a profile asks for; relative bar files are resolved against ``base_dir``."""
    market = profile.market
    if market.data_source in BUNDLED_SYMBOLS:
        return BundledReplay({market.symbols[0]: market.data_source})
    if market.data_source == "bundled":
        return BundledReplay({symbol: BUNDLED_SERIES[symbol] for symbol in market.symbols})
    if market.data_source == "file":
        assert market.data_file is not None  # the profile validator guarantees it
        paths = {symbol: _resolved(path, base_dir) for symbol, path in market.files().items()}
        pattern = str(_resolved(market.data_file, base_dir)) if len(paths) > 1 else None
        return FileFeed(paths, name=pattern)
    raise FeedError(
        f"data_source {market.data_source!r} needs a live broker feed, which is made with the bot's venue: "
        "use 'sp500', 'nasdaq', 'bundled' or 'file' to replay data"
    )


def _resolved(path: str, base_dir: Path | None) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = base_dir / resolved
    return resolved


def _aligned(series: dict[str, Bars]) -> dict[str, Bars]:
    """One series as it is; several cut to the dates all of them hold."""
    if len(series) == 1:
        return series
    aligned = align(series)
    dropped = {symbol: n for symbol, n in aligned.dropped.items() if n}
    if dropped:  # a gap in one file costs every symbol that bar: say so, or a trader wonders where it went
        log.warning("feed.bars_dropped", dropped=dropped, detail="dates another symbol lacks are not traded")
    return aligned.bars
