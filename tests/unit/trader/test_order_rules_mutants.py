"""Order fitting (``trader/venues/order_rules.py``) where a mutation run found tests missing.

What a trader would notice: a coin priced under $1 refused as if its price were bad, an order
of exactly the venue's minimum quantity skipped, a skip reason that names no unit or writes
``1E+2`` for a hundred shares.
"""

from __future__ import annotations

from trader.venue import SymbolRules
from trader.venues.order_rules import fit_quantity


def test_a_price_under_one_dollar_is_a_price() -> None:
    rules = SymbolRules("DOGE/USDT", min_quantity=1.0, quantity_step=1.0, min_notional=1.0)
    assert fit_quantity(1234.7, 0.15, rules) == (1234.0, None)


def test_exactly_the_minimum_quantity_passes() -> None:
    rules = SymbolRules("ETH/USDT", min_quantity=0.001, quantity_step=0.0001)
    assert fit_quantity(0.001, 3_000.0, rules) == (0.001, None)


def test_whole_shares_are_written_plainly_in_the_reason() -> None:
    rules = SymbolRules("BRK.A", min_quantity=1000.0, quantity_step=100.0)
    quantity, reason = fit_quantity(150.0, 10.0, rules)
    assert quantity == 0.0
    assert reason == "skipped: 100 BRK.A is under the venue's minimum quantity of 1000 BRK.A"


def test_the_unit_is_the_base_of_a_pair_and_a_nameless_symbol_says_units() -> None:
    rules = SymbolRules("BTC/USDT/EXTRA", min_quantity=1.0)
    assert fit_quantity(0.5, 10.0, rules)[1] == ("skipped: 0.5 BTC is under the venue's minimum quantity of 1 BTC")
    assert fit_quantity(0.5, 10.0, SymbolRules("", min_quantity=1.0))[1] == (
        "skipped: 0.5 units is under the venue's minimum quantity of 1 units"
    )
