"""The simulated market: deterministic, closed bars only, one path behind every timeframe."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from trader.bars import load_bundled
from venues.daily import SyntheticDaily
from venues.market import Bar, Market, SimClock, session_for
from venues.schedule import xnys_schedule

# Tuesday 2026-03-10, 15:00 UTC: an XNYS session is open (13:30-20:00 UTC, EDT)
MID_SESSION = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
MINUTE, DAY = timedelta(minutes=1), timedelta(days=1)


def frozen(at: datetime = MID_SESSION) -> SimClock:
    return SimClock(at, speed=0)


def aggregate(bars: list[Bar], tf: timedelta) -> list[tuple[datetime, float, float, float, float, float]]:
    """Minute bars grouped into UTC-aligned buckets of ``tf``: (start, o, h, l, c, v)."""
    groups: dict[datetime, list[Bar]] = {}
    for bar in bars:
        bucket = datetime.fromtimestamp(bar.start.timestamp() // tf.total_seconds() * tf.total_seconds(), UTC)
        groups.setdefault(bucket, []).append(bar)
    return [
        (start, g[0].open, max(b.high for b in g), min(b.low for b in g), g[-1].close, sum(b.volume for b in g))
        for start, g in groups.items()
    ]


def same(a: list[Bar], b: list[tuple[datetime, float, float, float, float, float]]) -> None:
    assert len(a) == len(b)
    for bar, (start, o, h, lo, c, v) in zip(a, b, strict=True):
        assert bar.start == start
        assert (bar.open, bar.high, bar.low, bar.close) == (o, h, lo, c)
        assert bar.volume == pytest.approx(v)


@pytest.mark.parametrize(
    ("symbol", "session"),
    [("SPY", "XNYS"), ("AAPL", "XNYS"), ("BTC/USD", "24/7"), ("BTCUSDT", "24/7"), ("ETHUSD", "24/7"), ("USD", "XNYS")],
)
def test_session_for_tells_crypto_from_stocks(symbol: str, session: str) -> None:
    assert session_for(symbol) == session


def test_sim_clock_is_frozen_at_speed_zero_and_moves_by_advance() -> None:
    clock = frozen()
    assert clock.now() == MID_SESSION
    clock.advance(90)
    assert clock.now() == MID_SESSION + timedelta(seconds=90)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_sim_clock_runs_at_its_speed_and_resumes_from_json() -> None:
    wall = [1000.0]
    clock = SimClock(MID_SESSION, speed=60, wall=lambda: wall[0])
    wall[0] += 2
    assert clock.now() == MID_SESSION + timedelta(minutes=2)
    saved = clock.to_json()
    wall[0] += 3600  # the emulator was down for an hour of wall time
    resumed = SimClock.from_json(saved, wall=lambda: wall[0])
    assert resumed.now() == MID_SESSION + timedelta(minutes=2)
    assert resumed.origin == MID_SESSION and resumed.speed == 60


@pytest.mark.parametrize("source", ["synthetic", "sp500", "nasdaq"])
def test_prices_are_deterministic_across_instances(source: str) -> None:
    a, b = Market(source, frozen()), Market(source, frozen())
    start = MID_SESSION - timedelta(days=3)
    for symbol in ("SPY", "BTC/USD"):
        assert a.bars(symbol, MINUTE, start) == b.bars(symbol, MINUTE, start)
        assert a.price(symbol) == b.price(symbol)


def test_seeds_and_symbols_give_different_synthetic_paths() -> None:
    start = MID_SESSION - 30 * DAY
    closes = {
        (seed, symbol): [bar.close for bar in Market("synthetic", frozen(), seed=seed).bars(symbol, DAY, start)]
        for seed in (7, 8)
        for symbol in ("SPY", "QQQ")
    }
    assert len({tuple(v) for v in closes.values()}) == 4


@pytest.mark.parametrize("source", ["synthetic", "sp500"])
@pytest.mark.parametrize("symbol", ["SPY", "BTC/USD"])
def test_history_holds_over_two_thousand_daily_bars(source: str, symbol: str) -> None:
    bars = Market(source, frozen()).bars(symbol, DAY, MID_SESSION - timedelta(days=3650))
    assert len(bars) > 2000
    assert [b.start for b in bars] == sorted(b.start for b in bars)
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)


@pytest.mark.parametrize("symbol", ["SPY", "BTC/USD"])
@pytest.mark.parametrize("tf_minutes", [5, 15, 60, 240])
def test_every_timeframe_aggregates_the_same_minute_path(symbol: str, tf_minutes: int) -> None:
    market = Market("synthetic", frozen(MID_SESSION + 2 * DAY))
    start = MID_SESSION - 3 * DAY
    tf = timedelta(minutes=tf_minutes)
    minutes = market.bars(symbol, MINUTE, start)
    now = market.clock.now()
    whole = [b for b in aggregate(minutes, tf) if b[0] >= start and b[0] + tf <= now]
    same(market.bars(symbol, tf, start), whole)


def test_daily_bars_equal_their_sessions_minutes() -> None:
    market = Market("sp500", frozen(MID_SESSION + 5 * DAY))
    for daily in market.bars("SPY", DAY, MID_SESSION - 4 * DAY):
        minutes = market.bars("SPY", MINUTE, daily.start, daily.start + DAY)
        assert len(minutes) == 390 and minutes[0].start == daily.start  # 13:30 UTC in EDT
        assert (minutes[0].open, minutes[-1].close) == (daily.open, daily.close)
        assert (max(b.high for b in minutes), min(b.low for b in minutes)) == (daily.high, daily.low)
        assert sum(b.volume for b in minutes) == pytest.approx(daily.volume)


def test_only_closed_bars_are_served() -> None:
    clock = frozen()
    market = Market("synthetic", clock)
    minutes = market.bars("SPY", MINUTE, MID_SESSION - timedelta(hours=2))
    assert minutes[-1].start == MID_SESSION - MINUTE
    assert all(b.start.date() != MID_SESSION.date() for b in market.bars("SPY", DAY, MID_SESSION - 5 * DAY))
    clock.advance(5 * 3600)  # past the 20:00 UTC close
    assert market.bars("SPY", DAY, MID_SESSION - 5 * DAY)[-1].start == datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
    assert market.bars("SPY", MINUTE, MID_SESSION)[-1].start == datetime(2026, 3, 10, 19, 59, tzinfo=UTC)


def test_price_is_the_last_closed_minute_and_the_close_outside_the_session() -> None:
    clock = frozen()
    market = Market("synthetic", clock)
    for _ in range(3):
        assert market.price("SPY") == market.bars("SPY", MINUTE, MID_SESSION - timedelta(hours=1))[-1].close
        clock.advance(60)
    evening = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert not market.is_open("SPY", evening)
    assert market.price("SPY", evening) == market.daily("SPY", MID_SESSION).close
    assert market.price("SPY", evening) == market.price("SPY", datetime(2026, 3, 11, 13, 29, tzinfo=UTC))


def test_sessions_and_the_next_open_and_close() -> None:
    market = Market("synthetic", frozen())
    assert market.is_open("SPY") and market.is_open("BTC/USD")
    assert market.next_close("SPY") == datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    assert market.next_open("SPY") == datetime(2026, 3, 11, 13, 30, tzinfo=UTC)
    saturday = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    assert not market.is_open("SPY", saturday) and market.is_open("BTC/USD", saturday)
    assert market.next_open("SPY", saturday) == datetime(2026, 3, 16, 13, 30, tzinfo=UTC)
    thanksgiving_friday = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # early close 13:00 ET = 18:00 UTC
    assert market.next_close("SPY", thanksgiving_friday) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert market.next_close("BTC/USD", saturday) == datetime(2026, 3, 15, tzinfo=UTC)
    assert [d for d, _, _ in market.sessions("SPY", date(2026, 3, 13), date(2026, 3, 16))] == [
        date(2026, 3, 13),
        date(2026, 3, 16),
    ]


def test_session_open_price_is_the_daily_open() -> None:
    market = Market("synthetic", frozen(MID_SESSION + 2 * DAY))
    day = market.bars("SPY", DAY, MID_SESSION - DAY)[-1]
    assert market.session_open_price("SPY", day.start.date()) == day.open
    with pytest.raises(ValueError, match="no session"):
        market.session_open_price("SPY", date(2026, 3, 14))


def test_bundled_series_replays_with_its_real_bars() -> None:
    series = load_bundled("sp500")
    market = Market("sp500", frozen())
    origin_day = market.daily("SPY", MID_SESSION)
    pos = len(series) - 1 - 252
    assert (origin_day.open, origin_day.close) == (float(series.open[pos]), float(series.close[pos]))


def test_replayed_series_wraps_around_continuously() -> None:
    series = load_bundled("sp500")
    market = Market("sp500", frozen())
    # 252 sessions after the origin is the series' last bar; the next one is its first, scaled
    sched = xnys_schedule(date(2028, 1, 1))
    origin = sched.index_at(MID_SESSION.timestamp())
    last = market.daily("SPY", datetime.fromtimestamp(sched.open_of(origin + 252), UTC))
    first = market.daily("SPY", datetime.fromtimestamp(sched.open_of(origin + 253), UTC))
    assert last.close == float(series.close[-1])
    assert first.open == pytest.approx(float(series.open[0]) * float(series.close[-1]) / float(series.open[0]))
    assert abs(math.log(first.open / last.close)) < 0.05


def test_a_csv_file_is_a_source(tmp_path: Path) -> None:
    rows = ["date,open,high,low,close,volume"] + [
        f"2020-01-{d:02d},{100 + d},{102 + d},{99 + d},{101 + d},1000" for d in range(1, 29)
    ]
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(rows) + "\n")
    market = Market(str(path), frozen())
    market.clock.advance(DAY.total_seconds())
    # a series shorter than a year: its first bar lands on the clock's origin day
    assert [b.close for b in market.bars("XYZ", DAY, MID_SESSION - timedelta(hours=2))] == [102.0]


def test_synthetic_regimes_differ_in_volatility() -> None:
    synthetic = SyntheticDaily(seed=7)
    closes = np.array([synthetic.bar("SPY", d).close for d in range(3000)])
    regimes = np.array([synthetic.regime("SPY", d) for d in range(1, 3000)])
    returns = np.diff(np.log(closes))
    vols = [returns[regimes == r].std() for r in range(3)]
    means = [returns[regimes == r].mean() for r in range(3)]
    assert all(np.sum(regimes == r) > 100 for r in range(3))
    assert vols[0] < vols[1] < vols[2] and vols[2] > 2 * vols[0]
    assert means[0] > 0 > means[2]
