"""Trader formats: separators, signs, the <0.1% boundary, missing values, axes without exponents."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from bokeh.models import NumeralTickFormatter
from bokeh.plotting import figure

from ui import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (101_000.5, "$101,000.50"),
        (-1_234, "−$1,234.00"),
        (0.125, "$0.13"),  # half-up on the written value, not banker's rounding of the binary float
        (-0.004, "$0.00"),  # rounds to zero: no minus sign
        (1e9, "$1,000,000,000.00"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_money_groups_thousands_and_puts_the_minus_before_the_dollar(value: float | None, text: str) -> None:
    assert fmt.money(value) == text


def test_money_takes_other_precisions() -> None:
    assert fmt.money(1234.567, decimals=0) == "$1,235"


@pytest.mark.parametrize(("value", "text"), [(12, "+$12.00"), (-3.5, "−$3.50"), (0, "$0.00"), (None, "–")])
def test_signed_money_always_shows_the_direction(value: float | None, text: str) -> None:
    assert fmt.signed_money(value) == text


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (0.147, {}, "14.7%"),
        (0.1470, {"decimals": 2}, "14.70%"),
        (1.0, {}, "100.0%"),
        (-0.2034, {}, "−20.3%"),
        (0.0005, {}, "0.1%"),  # exactly half the last digit rounds up
        (0.000499, {}, "<0.1%"),  # just below half: too small to show, but not zero
        (-0.000499, {}, "−<0.1%"),  # a tiny loss stays a loss
        (0.000499, {"signed": True}, "+<0.1%"),
        (0.004, {"decimals": 0}, "<1%"),
        (0.0, {}, "0.0%"),
        (0.0, {"signed": True}, "0.0%"),
        (0.012, {"signed": True}, "+1.2%"),
        (-0.012, {"signed": True}, "−1.2%"),
        (None, {}, "–"),
    ],
)
def test_pct_reads_fractions_and_names_the_too_small(value: float | None, kwargs: dict[str, object], text: str) -> None:
    assert fmt.pct(value, **kwargs) == text  # type: ignore[arg-type]


def test_counts_prices_and_quantities_never_use_exponents() -> None:
    assert fmt.count(1234) == "1,234"
    assert fmt.count(None) == "–"
    assert fmt.price(4512.25) == "4,512.25"
    assert fmt.price(101_000.0) == "101,000.00"
    assert fmt.price(0.0001234) == "0.0001234"  # a cheap coin keeps its significant digits
    assert fmt.quantity(12.5) == "12.5"
    assert fmt.quantity(0.012345) == "0.0123"
    assert fmt.quantity(-3.0) == "−3"
    for text in (fmt.money(1.01e5), fmt.price(1.01e5), fmt.count(1.01e5)):
        assert "e+" not in text


def test_dates_are_iso_days_and_utc_minutes() -> None:
    at = datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    assert fmt.date_label(date(2024, 5, 1)) == "2024-05-01"
    assert fmt.date_label(at) == "2024-05-01"
    assert fmt.datetime_label(at) == "2024-05-01 14:30 UTC"
    assert fmt.datetime_label(None) == fmt.date_label(None) == "–"
    assert fmt.bar_label(datetime(2024, 5, 1, tzinfo=UTC)) == "2024-05-01"
    assert fmt.bar_label(datetime(2024, 5, 1, 14, 35, tzinfo=UTC)) == "2024-05-01 14:35 UTC"


def test_axes_get_dollar_and_percent_ticks() -> None:
    fig = figure()
    fmt.money_axis(fig.yaxis)
    assert isinstance(fig.yaxis[0].formatter, NumeralTickFormatter)
    assert fig.yaxis[0].formatter.format == "$0,0"
    fmt.money_axis(fig.yaxis, compact=True)
    assert fig.yaxis[0].formatter.format == "$0.0a"
    fmt.percent_axis(fig.xaxis)
    assert fig.xaxis[0].formatter.format == "0%"


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (1.2345, {}, "1.23"),
        (-0.454, {}, "−0.45"),
        (-0.004, {}, "0.00"),  # rounds to zero: no minus sign
        (0.12, {"signed": True}, "+0.12"),
        (12_345.6, {"decimals": 1}, "12,345.6"),
        (float("inf"), {}, "–"),
        (None, {}, "–"),
    ],
)
def test_ratio_writes_plain_numbers_with_the_minus_sign(
    value: float | None, kwargs: dict[str, object], text: str
) -> None:
    assert fmt.ratio(value, **kwargs) == text  # type: ignore[arg-type]


def test_iso_text_is_labelled_as_a_bar_time() -> None:
    assert fmt.when_label("2024-05-01") == "2024-05-01"
    assert fmt.when_label("2024-05-01T14:30:00") == "2024-05-01 14:30 UTC"
    assert fmt.when_label("2024-05-01T00:00:00+00:00") == "2024-05-01"
    assert fmt.when_label("next week") == "next week"
    assert fmt.when_label(None) == fmt.when_label("") == "–"
