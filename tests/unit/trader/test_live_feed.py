"""The live feed: closed bars only, each once, on the venue's clock and the XNYS calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.venue import FakeVenue
from trader.live_feed import BarTimes, VenueBookFeed, VenueFeed
from trader.venue import VenueBar, VenueClock


def _bar(start: datetime, close: float = 100.0) -> VenueBar:
    return VenueBar(start, close, close + 1, close - 1, close, 10.0)


@dataclass
class BarVenue(FakeVenue):
    now: datetime = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    served: list[VenueBar] = field(default_factory=list)

    clock_calls: int = 0

    async def clock(self) -> VenueClock:
        self.clock_calls += 1
        return VenueClock(self.now, True)

    async def bars(self, symbol: str, interval: str, start: datetime, end: datetime | None = None) -> list[VenueBar]:
        return [bar for bar in self.served if bar.start >= start]


HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


async def test_duplicated_and_overlapping_answers_give_each_bar_once(tmp_path: Path) -> None:
    venue = BarVenue(served=[_bar(T0 + i * HOUR) for i in range(12)])
    venue.served += venue.served[-3:]  # a page repeated (a reconnect, a retried request)
    feed = VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True)
    first = await feed.available()
    again = await feed.available()
    assert len(first) == len(again) == 12
    assert len(set(first.dates)) == 12


async def test_a_bar_still_forming_is_not_served(tmp_path: Path) -> None:
    venue = BarVenue(now=T0 + 3 * HOUR + timedelta(minutes=30), served=[_bar(T0 + i * HOUR) for i in range(4)])
    bars = await VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True).available()
    assert bars.dates[-1] == T0 + 2 * HOUR  # the 03:00 bar closes at 04:00


async def test_the_cache_keeps_indices_across_a_restart(tmp_path: Path) -> None:
    venue = BarVenue(now=T0 + 6 * HOUR, served=[_bar(T0 + i * HOUR, 100 + i) for i in range(6)])
    before = await VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True).available()
    venue.now += HOUR
    venue.served.append(_bar(T0 + 6 * HOUR, 106))
    after = await VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True).available()
    assert after.dates[: len(before)] == before.dates and list(after.close[:6]) == list(before.close)
    assert len(after) == 7


async def test_a_torn_cache_line_is_fetched_again(tmp_path: Path) -> None:
    venue = BarVenue(now=T0 + 4 * HOUR, served=[_bar(T0 + i * HOUR) for i in range(4)])
    feed = VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True)
    await feed.available()
    cache = next(tmp_path.glob("bars-*.csv"))
    cache.write_text(cache.read_text()[:-20])  # a crash mid-write
    assert len(await VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True).available()) == 4


async def test_missing_bars_are_stale_with_a_reason_and_old_bars_are_not_fresh(tmp_path: Path) -> None:
    venue = BarVenue(now=T0 + 4 * HOUR, served=[_bar(T0 + i * HOUR) for i in range(4)])
    feed = VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True)
    await feed.available()
    assert feed.is_fresh(3, venue.now) and not feed.is_fresh(2, venue.now)
    assert feed.stale_reason(T0 + 5 * HOUR, grace=timedelta(minutes=10)) is None  # the next bar is just due
    reason = feed.stale_reason(T0 + 5 * HOUR + timedelta(minutes=11), grace=timedelta(minutes=10))
    assert reason is not None and "BTC/USD" in reason and "old price" in reason


def test_daily_stock_bars_close_at_the_session_close_early_closes_included() -> None:
    times = BarTimes("1d", crypto=False)
    friday_after_thanksgiving = _bar(datetime(2026, 11, 27, 14, 30, tzinfo=UTC))
    assert times.close_of(friday_after_thanksgiving) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # 13:00 ET
    assert times.label(friday_after_thanksgiving) == date(2026, 11, 27)
    # after Friday's close the next bar is Monday's session, not Saturday
    assert times.next_close_after(datetime(2026, 11, 27, 18, 0, tzinfo=UTC)) == datetime(
        2026, 11, 30, 21, 0, tzinfo=UTC
    )


def test_intraday_stock_bars_skip_the_night() -> None:
    times = BarTimes("1h", crypto=False)
    last_of_day = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)  # 16:00 ET close
    assert times.next_close_after(last_of_day) == datetime(2026, 3, 3, 15, 30, tzinfo=UTC)  # 09:30 ET open + 1h


async def test_a_stale_feed_cancels_the_bots_open_orders_once_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from trader.broker import Order
    from trader.execution import OrderJournal
    from trader.live_session import LiveSession
    from trader.live_state import LiveState, Outstanding
    from trader.venue import OrderRequest

    venue = BarVenue(now=T0 + 4 * HOUR, served=[_bar(T0 + i * HOUR) for i in range(4)])
    feed = VenueBookFeed([VenueFeed(venue, "BTC/USD", "1h", tmp_path, warmup_bars=5, crypto=True)])
    await feed.available()
    await venue.submit(OrderRequest("c1", "BTC/USD", "buy", 1.0))
    journal = OrderJournal(tmp_path / "j")
    session = LiveSession(venue, feed, journal, symbols=("BTC/USD",), crypto=True, poll_s=0.01)
    session.live = LiveState(outstanding={"c1": Outstanding(Order("c1", "BTC/USD", "buy", 1.0, "b"))})
    venue.now = T0 + 6 * HOUR  # the 04:00 bar was due at 05:00 and never came
    stop = asyncio.Event()
    waiting = asyncio.create_task(session.next_bars(4, stop))

    async def canceled() -> None:
        while venue.orders["c1"].status != "canceled":
            await asyncio.sleep(0.01)

    await asyncio.wait_for(canceled(), timeout=30)
    polls = venue.clock_calls
    while venue.clock_calls < polls + 5:  # five more polls: the stale state is still announced once
        await asyncio.wait_for(asyncio.sleep(0.01), timeout=30)
    stop.set()
    assert await waiting is None
    out = capsys.readouterr().out
    assert out.count("stale:") == 1 and "1 open order(s) canceled" in out
