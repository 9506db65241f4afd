"""Scale-to-zero bots wake after the close on trading days: holidays, early closes, DST, other exchanges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.profile import BotProfile
from tests.conftest import VALID_PROFILE
from workers.wake_schedule import (
    UnknownExchange,
    next_close,
    next_wake,
    previous_close,
    resolve_exchange,
    wakes_on_schedule,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "wake", "why"),
    [
        (ny(2024, 3, 5, 10), ny(2024, 3, 5, 16, 15), "a Tuesday morning: today, 15 min after the 16:00 close"),
        (ny(2024, 3, 5, 16, 15), ny(2024, 3, 6, 16, 15), "exactly at today's wake: the next one is tomorrow"),
        (ny(2024, 3, 8, 17), ny(2024, 3, 11, 16, 15), "Friday evening: Monday, the weekend is skipped"),
        (ny(2024, 7, 3, 10), ny(2024, 7, 3, 13, 15), "the eve of Independence Day closes early, at 13:00"),
        (ny(2024, 7, 3, 14), ny(2024, 7, 5, 16, 15), "Independence Day is a holiday"),
        (ny(2024, 11, 27, 17), ny(2024, 11, 29, 13, 15), "Thanksgiving is shut, the day after closes at 13:00"),
        (ny(2024, 12, 24, 9), ny(2024, 12, 24, 13, 15), "Christmas Eve closes early"),
        (ny(2024, 12, 24, 14), ny(2024, 12, 26, 16, 15), "Christmas Day is a holiday"),
        (ny(2025, 4, 17, 17), ny(2025, 4, 21, 16, 15), "Good Friday: no federal holiday, but the NYSE is shut"),
        (ny(2025, 1, 8, 17), ny(2025, 1, 10, 16, 15), "2025-01-09, the ad-hoc closure for President Carter"),
        (ny(2025, 12, 31, 17), ny(2026, 1, 2, 16, 15), "New Year's Day, across a year boundary"),
        (ny(2024, 10, 14, 9), ny(2024, 10, 14, 16, 15), "Columbus Day is a federal holiday, but the NYSE trades"),
    ],
)
def test_nyse_wakes(now: datetime, wake: datetime, why: str) -> None:
    assert next_wake("XNYS", now) == wake.astimezone(UTC), why


def test_the_close_is_in_utc_and_follows_daylight_saving_time() -> None:
    assert next_close("XNYS", ny(2024, 1, 16, 9)) == datetime(2024, 1, 16, 21, 0, tzinfo=UTC)  # EST
    assert next_close("XNYS", ny(2024, 7, 16, 9)) == datetime(2024, 7, 16, 20, 0, tzinfo=UTC)  # EDT


@pytest.mark.parametrize(
    ("at", "close", "why"),
    [
        (ny(2024, 3, 5, 16), ny(2024, 3, 5, 16), "exactly at a close: that close"),
        (ny(2024, 3, 5, 15, 59), ny(2024, 3, 4, 16), "before today's close: yesterday's"),
        (ny(2024, 3, 11, 9), ny(2024, 3, 8, 16), "Monday morning: Friday's, over the weekend"),
        (ny(2024, 11, 29, 20), ny(2024, 11, 29, 13), "the day after Thanksgiving closed at 13:00"),
        (ny(2026, 1, 2, 9), ny(2025, 12, 31, 16), "New Year's Day, back across a year boundary"),
    ],
)
def test_the_previous_close(at: datetime, close: datetime, why: str) -> None:
    assert previous_close("XNYS", at) == close.astimezone(UTC), why


def test_the_delay_after_the_close_is_configurable() -> None:
    assert next_wake("XNYS", ny(2024, 3, 5, 16, 30), delay=timedelta(hours=1)) == ny(2024, 3, 5, 17).astimezone(UTC)


def test_other_exchanges_use_their_own_calendar_and_time_zone() -> None:
    christmas_eve = datetime(2024, 12, 24, 9, tzinfo=LONDON)
    assert next_close("XLON", christmas_eve) == datetime(2024, 12, 24, 12, 30, tzinfo=UTC)  # LSE early close
    assert next_close("XLON", datetime(2024, 12, 24, 13, tzinfo=LONDON)) == datetime(2024, 12, 27, 16, 30, tzinfo=UTC)


def test_aliases_resolve_and_unknown_exchanges_are_named() -> None:
    assert resolve_exchange("nyse") == "XNYS"
    assert next_wake("NASDAQ", ny(2024, 7, 3, 10)) == next_wake("XNAS", ny(2024, 7, 3, 10))
    with pytest.raises(UnknownExchange, match="'MOON'"):
        next_wake("MOON", ny(2024, 3, 5, 10))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        next_wake("XNYS", datetime(2024, 3, 5, 10))


def profile(**market: str) -> BotProfile:
    data = {**VALID_PROFILE, "basics": {**VALID_PROFILE["basics"], "surface": "hosted"}}
    data["market"] = {**VALID_PROFILE["market"], **market}
    if market.get("asset_class") == "crypto":
        data["market"]["symbols"] = ["BTC/USD"]  # broker crypto is spelled BASE/QUOTE
    return BotProfile.model_validate(data)


def test_only_hosted_daily_stock_bots_run_after_the_close_scale_to_zero() -> None:
    assert wakes_on_schedule(profile())
    crypto = profile(asset_class="crypto", data_source="broker")
    assert not wakes_on_schedule(crypto)
    local = BotProfile.model_validate(VALID_PROFILE)
    assert not wakes_on_schedule(local)
    every_bar = profile().model_copy(update={"schedule": profile().schedule.model_copy(update={"run": "every_bar"})})
    assert not wakes_on_schedule(every_bar)
