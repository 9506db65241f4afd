"""Feeds for portfolios: every symbol's bars, aligned by date, in the bot's order; one symbol as before."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.profile import BotProfile
from tests.portfolio_data import PORTFOLIO_PROFILE, SYMBOLS, portfolio_series, write_portfolio_files
from trader.bars import Bars, load_bundled, load_file, write_csv
from trader.feeds import FeedError, feed_for
from trader.portfolio_bars import align


def _profile(**market: Any) -> BotProfile:
    body = copy.deepcopy(PORTFOLIO_PROFILE)
    body["market"].update(market)
    if len(body["market"]["symbols"]) != len(SYMBOLS):
        body["strategy"].pop("weights")
    return BotProfile.model_validate(body)


def _available(profile: BotProfile, base_dir: Path | None = None) -> dict[str, Bars]:
    return asyncio.run(feed_for(profile, base_dir=base_dir).available())


def _same(left: Bars, right: Bars) -> bool:
    return left.dates == right.dates and all(
        np.array_equal(getattr(left, c), getattr(right, c)) for c in ("open", "high", "low", "close", "volume")
    )


def test_one_file_per_symbol_is_read_relative_to_the_instance_and_cut_to_the_common_dates(tmp_path: Path) -> None:
    write_portfolio_files(tmp_path / "data", 60, missing={"BBB": 20, "CCC": 41})
    bars = _available(_profile(data_file="data/{symbol}.csv"), base_dir=tmp_path)
    assert list(bars) == list(SYMBOLS)
    assert {len(b) for b in bars.values()} == {58}
    assert bars["AAA"].dates == bars["BBB"].dates == bars["CCC"].dates
    expected = align(portfolio_series(60, missing={"BBB": 20, "CCC": 41})).bars
    assert all(_same(bars[s], expected[s]) for s in SYMBOLS)


def test_a_bar_counts_once_every_symbols_file_has_it(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path, 40)
    feed = feed_for(_profile(data_file=str(pattern)))
    full = portfolio_series(41)
    write_csv(full["AAA"], tmp_path / "AAA.csv")  # one file is a bar ahead of the others
    assert {len(b) for b in asyncio.run(feed.available()).values()} == {40}
    for symbol in SYMBOLS:
        write_csv(full[symbol], tmp_path / f"{symbol}.csv")
    assert {len(b) for b in asyncio.run(feed.available()).values()} == {41}


def test_a_missing_file_names_the_symbol_and_the_path(tmp_path: Path) -> None:
    pattern = write_portfolio_files(tmp_path, 30)
    (tmp_path / "BBB.csv").unlink()
    with pytest.raises(FeedError, match=r"the bars of BBB: .*BBB\.csv: cannot open it"):
        _available(_profile(data_file=str(pattern)))


def test_one_symbol_reads_its_one_file_as_it_always_did(tmp_path: Path) -> None:
    path = write_csv(portfolio_series(30)["AAA"], tmp_path / "only.csv")
    feed = feed_for(_profile(symbols=["AAA"], data_file=str(path)))
    bars = asyncio.run(feed.available())
    assert feed.name == str(path)
    assert list(bars) == ["AAA"] and _same(bars["AAA"], load_file(path))


def test_bundled_replays_spy_and_qqq_together_on_the_dates_both_hold() -> None:
    bars = _available(_profile(symbols=["QQQ", "SPY"], data_source="bundled", data_file=None))
    assert list(bars) == ["QQQ", "SPY"]
    expected = align({"QQQ": load_bundled("nasdaq"), "SPY": load_bundled("sp500")}).bars
    assert all(_same(bars[s], expected[s]) for s in ("QQQ", "SPY"))


def test_bundled_serves_only_the_symbols_the_profile_lists() -> None:
    bars = _available(_profile(symbols=["QQQ"], data_source="bundled", data_file=None))
    assert list(bars) == ["QQQ"] and _same(bars["QQQ"], load_bundled("nasdaq"))


def test_a_bundled_series_of_one_symbol_is_served_under_that_symbol() -> None:
    bars = _available(_profile(symbols=["SPY"], data_source="sp500", data_file=None))
    assert list(bars) == ["SPY"] and _same(bars["SPY"], load_bundled("sp500"))


def test_broker_data_is_not_a_replay_feed() -> None:
    body = copy.deepcopy(PORTFOLIO_PROFILE)
    body["market"].update(symbols=["SPY"], data_source="broker", data_file=None)
    body["strategy"].pop("weights")
    with pytest.raises(FeedError, match="needs a live broker feed"):
        feed_for(BotProfile.model_validate(body))
