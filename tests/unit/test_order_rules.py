"""fit_quantity: round down to the step, skip (with a reason) under the venue's minimums."""

from __future__ import annotations

import math

import pytest

from trader.venue import SymbolRules
from trader.venues.order_rules import fit_quantity

BTC = SymbolRules("BTC/USDT", min_quantity=0.00001, quantity_step=0.00001, min_notional=5.0, price_tick=0.01)


def test_quantity_on_the_step_passes_unchanged() -> None:
    assert fit_quantity(0.01234, 65_000.0, BTC) == (0.01234, None)


def test_quantity_rounds_down_to_the_step_never_up() -> None:
    quantity, reason = fit_quantity(0.012349999, 65_000.0, BTC)
    assert reason is None
    assert quantity == 0.01234


def test_binary_float_noise_does_not_lose_a_step() -> None:
    """0.1 + 0.2 is 0.30000000000000004 and 0.3 / 0.1 is 2.9999…: neither costs a step."""
    rules = SymbolRules("ETH/USDT", quantity_step=0.1)
    assert fit_quantity(0.1 + 0.2, 100.0, rules) == (0.3, None)
    assert fit_quantity(0.3, 100.0, rules) == (0.3, None)
    assert fit_quantity(0.7, 100.0, SymbolRules("X/USDT", quantity_step=0.1)) == (0.7, None)


def test_zero_step_means_no_rounding() -> None:
    assert fit_quantity(0.123456789, 10.0, SymbolRules("SPY")) == (0.123456789, None)


def test_exactly_the_minimum_notional_passes() -> None:
    assert fit_quantity(0.0001, 50_000.0, BTC) == (0.0001, None)  # $5.00 exactly


def test_a_hair_under_the_minimum_notional_is_skipped_with_the_amounts() -> None:
    quantity, reason = fit_quantity(0.00004, 65_250.0, BTC)
    assert quantity == 0.0
    assert reason == "skipped: 0.00004 BTC is $2.61, under the venue's minimum order of $5.00"
    quantity, reason = fit_quantity(0.0001, 49_999.99, BTC)
    assert quantity == 0.0
    assert reason is not None and "$4.99" in reason and "$5.00" in reason


def test_under_the_minimum_quantity_is_skipped() -> None:
    rules = SymbolRules("ETH/USDT", min_quantity=0.001, quantity_step=0.0001)
    quantity, reason = fit_quantity(0.0009, 3_000.0, rules)
    assert quantity == 0.0
    assert reason == "skipped: 0.0009 ETH is under the venue's minimum quantity of 0.001 ETH"


def test_rounding_to_zero_is_skipped() -> None:
    quantity, reason = fit_quantity(0.000004, 65_000.0, BTC)
    assert quantity == 0.0
    assert reason is not None and "rounds down to 0" in reason


def test_rounding_happens_before_the_minimum_checks() -> None:
    """0.000109 rounds to 0.0001: at $50,000 that is $5.00, still enough."""
    assert fit_quantity(0.000109, 50_000.0, BTC) == (0.0001, None)
    quantity, _reason = fit_quantity(0.000109, 49_999.0, BTC)
    assert quantity == 0.0


@pytest.mark.parametrize("bad", [0.0, -0.5, math.nan, math.inf])
def test_a_quantity_that_is_not_positive_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        fit_quantity(bad, 100.0, BTC)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_a_price_that_is_not_positive_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="price"):
        fit_quantity(1.0, bad, BTC)
