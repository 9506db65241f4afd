"""Feeds: where a bot's bars come from (a port; live broker feeds implement it later).

A feed answers one question: which bars have closed so far, oldest first. The runner
keeps track of how many it has consumed, so a feed needs no cursor of its own and a
restart simply asks again. Replays of bundled or file data return the whole series; a
file that grows (a daily export, say) shows its new bars on the next call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from contracts.profile import BotProfile
from trader.bars import Bars, load_bundled, load_file


class FeedError(ValueError):
    """The profile's data source cannot be served here; the message says why."""


class Feed(Protocol):
    name: str

    async def available(self) -> Bars:
        """Every bar that has closed so far, oldest first."""
        ...


class BundledReplay:
    """The S&P 500 or NASDAQ daily bars that ``arch`` ships (see ``trader.bars.bundled_file``), loaded once."""

    def __init__(self, series: str) -> None:
        self.name = f"bundled:{series}"
        self._series = series
        self._bars: Bars | None = None

    async def available(self) -> Bars:
        if self._bars is None:
            self._bars = load_bundled(self._series)
        return self._bars


class FileFeed:
    """A CSV or Parquet file, read again on every call so appended bars appear."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self._path = path

    async def available(self) -> Bars:
        return load_file(self._path)


def feed_for(profile: BotProfile, *, base_dir: Path | None = None) -> Feed:
    """The feed a profile asks for; a relative ``data_file`` is resolved against ``base_dir``."""
    market = profile.market
    if market.data_source in ("sp500", "nasdaq"):
        return BundledReplay(market.data_source)
    if market.data_source == "file":
        assert market.data_file is not None  # the profile validator guarantees it
        path = Path(market.data_file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return FileFeed(path)
    raise FeedError(
        f"data_source {market.data_source!r} needs a live broker feed, which this version does not have yet: "
        "use 'sp500', 'nasdaq' or 'file' for a paper bot"
    )
