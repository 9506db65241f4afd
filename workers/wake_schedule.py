"""When a scale-to-zero bot wakes: a fixed delay after each session close of its exchange.

Trading days and closes come from ``exchange_calendars`` (maintained, rule-based plus ad-hoc
closures such as 2025-01-09, with early closes such as 13:00 on the day after Thanksgiving).
Weekdays-minus-federal-holidays would be wrong both ways: Good Friday is no federal holiday
but the NYSE is shut, and Columbus Day is one but the NYSE trades.

All times are timezone-aware; results are in UTC.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from contracts.profile import BotProfile

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

DEFAULT_EXCHANGE = "XNYS"
DEFAULT_DELAY = timedelta(minutes=15)
"""Wake this long after the close, when the day's bar is final at the data vendor."""

_LOOKAHEAD_DAYS = 20  # longer than any run of closed days on a listed exchange


class UnknownExchange(ValueError):
    """The exchange code is not in the calendar library."""


def resolve_exchange(name: str) -> str:
    """The ISO MIC for an exchange code or alias (``NYSE`` -> ``XNYS``); raises UnknownExchange."""
    import exchange_calendars as xcals

    code = name.strip().upper()
    names = set(xcals.get_calendar_names(include_aliases=True))
    if code not in names:
        raise UnknownExchange(f"unknown exchange {name!r}: use an ISO MIC such as XNYS, XNAS or XLON")
    return str(xcals.resolve_alias(code))


def next_close(exchange: str, after: datetime) -> datetime:
    """The first session close of ``exchange`` strictly after ``after``, in UTC."""
    moment = _utc(after)
    code = resolve_exchange(exchange)
    start = moment.date() - timedelta(days=1)
    end = moment.date() + timedelta(days=_LOOKAHEAD_DAYS)
    closes = _calendar(code, start.year).schedule.loc[str(start) : str(end), "close"]  # the calendar spans +-1 year
    for close in closes:
        when: datetime = close.to_pydatetime().astimezone(UTC)
        if when > moment:
            return when
    raise RuntimeError(f"{code} has no session close within {_LOOKAHEAD_DAYS} days after {moment.isoformat()}")


def previous_close(exchange: str, at: datetime) -> datetime:
    """The last session close of ``exchange`` at or before ``at``, in UTC."""
    moment = _utc(at)
    code = resolve_exchange(exchange)
    start = moment.date() - timedelta(days=_LOOKAHEAD_DAYS)
    end = moment.date() + timedelta(days=1)
    closes = _calendar(code, end.year).schedule.loc[str(start) : str(end), "close"]
    for close in reversed(list(closes)):
        when: datetime = close.to_pydatetime().astimezone(UTC)
        if when <= moment:
            return when
    raise RuntimeError(f"{code} has no session close within {_LOOKAHEAD_DAYS} days before {moment.isoformat()}")


def next_wake(exchange: str, after: datetime, *, delay: timedelta = DEFAULT_DELAY) -> datetime:
    """The first (session close + ``delay``) strictly after ``after``, in UTC."""
    return next_close(exchange, _utc(after) - delay) + delay


def wakes_on_schedule(profile: BotProfile) -> bool:
    """Whether a hosted bot scales to zero between wakes: stock, daily bars, run after the close.

    Crypto trades around the clock and ``every_bar`` bots run continuously: their machines stay up.
    """
    return (
        profile.basics.surface == "hosted"
        and profile.market.asset_class == "stock"
        and profile.market.bar_interval == "1d"
        and profile.schedule.run == "after_close"
    )


@lru_cache(maxsize=32)
def _calendar(code: str, year: int) -> ExchangeCalendar:
    """The calendar for ``year`` and its neighbours (building one takes ~0.3 s; this runs once per year)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates: harmless until pandas 4.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        calendar: ExchangeCalendar = xcals.get_calendar(code, start=f"{year - 1}-01-01", end=f"{year + 1}-12-31")
    return calendar


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass an aware datetime")
    return moment.astimezone(UTC)
