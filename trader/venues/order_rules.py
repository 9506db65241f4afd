"""Fit an order quantity to a venue's filters before it is sent.

Venues refuse an order that is off their quantity step or under their minimum size or
minimum notional, and a refusal costs a round trip, an audit line and (on Binance) weight
against the rate limit. The live runner calls :func:`fit_quantity` before every submit:
the quantity is rounded *down* to the step (never up: rounding up could spend cash the
strategy did not allot), and an order that then falls under a minimum is skipped with a
reason a trader can read in the audit.

The arithmetic is decimal on the floats' shortest text form, so ``0.1 + 0.2``-style binary
errors never push a quantity one step down (``0.3 / 0.1`` is 2.9999… in binary floats).
Nothing here knows a venue: Alpaca's fractional shares and Binance's LOT_SIZE both arrive
as a :class:`~trader.venue.SymbolRules`.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

from trader.venue import SymbolRules


def fit_quantity(quantity: float, price: float, rules: SymbolRules) -> tuple[float, str | None]:
    """``(quantity to send, None)``, or ``(0.0, why it is skipped)`` when the venue would refuse it.

    Raises ``ValueError`` for a quantity or price that is not a positive finite number: orders
    carry a side and a positive quantity, so anything else is a bug in the caller.
    """
    if not math.isfinite(quantity) or quantity <= 0:
        raise ValueError(f"order quantity must be a positive number, got {quantity!r}")
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive number, got {price!r}")
    unit = _base_unit(rules.symbol)
    wanted = _dec(quantity)
    fitted = _round_down(wanted, _dec(rules.quantity_step))
    if fitted <= 0:
        return 0.0, (
            f"skipped: {_qty(wanted)} {unit} rounds down to 0 at the venue's quantity step of "
            f"{_qty(_dec(rules.quantity_step))} {unit}"
        )
    min_quantity = _dec(rules.min_quantity)
    if fitted < min_quantity:
        return (
            0.0,
            f"skipped: {_qty(fitted)} {unit} is under the venue's minimum quantity of {_qty(min_quantity)} {unit}",
        )
    notional = fitted * _dec(price)
    min_notional = _dec(rules.min_notional)
    if notional < min_notional:
        return 0.0, (
            f"skipped: {_qty(fitted)} {unit} is {_money(notional)}, under the venue's minimum order of "
            f"{_money(min_notional)}"
        )
    return float(fitted), None


def _dec(value: float) -> Decimal:
    # str() gives the shortest text that round-trips, i.e. the number the user meant
    return Decimal(str(value))


def _round_down(quantity: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return quantity
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step


def _base_unit(symbol: str) -> str:
    """``BTC`` for ``BTC/USDT``; a stock symbol is its own unit (``SPY``)."""
    return symbol.split("/", 1)[0] if symbol else "units"


def _qty(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_DOWN):,}"
