"""Numbers as a trader reads them: one module, so every page says $101,000.50 and 14.7% alike.

Rules kept everywhere:
- a missing value is an en dash ``–``, never ``None``, ``nan`` or an empty cell;
- negatives carry the typographic minus ``−`` (U+2212) in front of the currency sign: ``−$1,234.00``;
- a value that rounds to zero shows no sign (``$0.00``, never ``−$0.00``);
- a percentage too small to show at the chosen precision says so (``<0.1%``) instead of ``0.0%``;
- rounding is half-up on the decimal value written, so ``0.125`` shows as ``0.13`` (floats are read
  through their shortest repr, not their binary expansion).

Bokeh axes get the same look through :func:`money_axis` and :func:`percent_axis`, so a chart
never falls back to scientific notation (``1.010e+5``).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bokeh.models import NumeralTickFormatter

MISSING = "–"
MINUS = "−"

MONEY_TICKS = "$0,0"
MONEY_TICKS_COMPACT = "$0.0a"  # $101.5k, $1.2m: for narrow charts
PERCENT_TICKS = "0%"
PERCENT_TICKS_FINE = "0.0%"
PRICE_TICKS = "0,0[.]00"


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def _rounded(x: float, decimals: int) -> Decimal:
    """|x| rounded half-up to ``decimals`` places, from the number as written (``repr``)."""
    return abs(Decimal(repr(float(x)))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _sign(x: float, shown: Decimal, *, plus: bool) -> str:
    if shown == 0:
        return ""
    if x < 0:
        return MINUS
    return "+" if plus else ""


def _grouped(shown: Decimal, decimals: int) -> str:
    return f"{shown:,.{decimals}f}"


def money(x: float | None, decimals: int = 2) -> str:
    """``$101,000.50``; ``−$1,234.00`` below zero; ``–`` when unknown."""
    if _missing(x):
        return MISSING
    assert x is not None
    shown = _rounded(x, decimals)
    return f"{_sign(x, shown, plus=False)}${_grouped(shown, decimals)}"


def signed_money(x: float | None, decimals: int = 2) -> str:
    """A change in money, always with its direction: ``+$12.00``, ``−$3.50``; zero is ``$0.00``."""
    if _missing(x):
        return MISSING
    assert x is not None
    shown = _rounded(x, decimals)
    return f"{_sign(x, shown, plus=True)}${_grouped(shown, decimals)}"


def pct(x: float | None, decimals: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.147`` -> ``14.7%``.

    A value that is not zero but would round to zero says ``<0.1%`` (``−<0.1%`` for a tiny
    loss, ``+<0.1%`` when ``signed``): a trader must not read a small loss as none.
    """
    if _missing(x):
        return MISSING
    assert x is not None
    percent = float(Decimal(repr(float(x))) * 100)
    shown = _rounded(percent, decimals)
    if shown == 0 and percent != 0:
        sign = MINUS if percent < 0 else ("+" if signed else "")
        return f"{sign}<{Decimal(1).scaleb(-decimals):f}%"
    return f"{_sign(percent, shown, plus=signed)}{_grouped(shown, decimals)}%"


def count(n: int | float | None) -> str:
    """A whole number with thousands separators: ``1,234``."""
    if _missing(n):
        return MISSING
    assert n is not None
    shown = _rounded(n, 0)
    return f"{_sign(n, shown, plus=False)}{_grouped(shown, 0)}"


def price(x: float | None, decimals: int | None = None) -> str:
    """A market price without a currency sign: ``4,512.25``.

    By default two decimals, or four significant digits below 1 (``0.0001234`` for a small coin),
    so a cheap asset never shows as ``0.00``.
    """
    if _missing(x):
        return MISSING
    assert x is not None
    if decimals is None:
        size = abs(x)
        decimals = 2 if size >= 1 or size == 0 else min(10, 3 - math.floor(math.log10(size)))
    shown = _rounded(x, decimals)
    return f"{_sign(x, shown, plus=False)}{_grouped(shown, decimals)}"


def quantity(x: float | None, decimals: int = 4) -> str:
    """Shares or coins held: up to four decimals, trailing zeros dropped (``12.5``, ``0.0123``)."""
    if _missing(x):
        return MISSING
    assert x is not None
    shown = _rounded(x, decimals)
    text = _grouped(shown, decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{_sign(x, shown, plus=False)}{text}"


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def date_label(dt: date | datetime | None) -> str:
    """``2024-05-01`` (a datetime is read in UTC first)."""
    if dt is None:
        return MISSING
    if isinstance(dt, datetime):
        dt = _utc(dt).date()
    return dt.isoformat()


def datetime_label(dt: datetime | None) -> str:
    """``2024-05-01 14:30 UTC``; a naive datetime is taken to be UTC already."""
    if dt is None:
        return MISSING
    return f"{_utc(dt):%Y-%m-%d %H:%M} UTC"


def bar_label(dt: datetime | None) -> str:
    """A bar by its time: a daily bar (midnight UTC) by its date, an intraday bar to the minute."""
    if dt is None:
        return MISSING
    at = _utc(dt)
    if (at.hour, at.minute, at.second) == (0, 0, 0):
        return at.date().isoformat()
    return datetime_label(at)


def money_axis(axis: Any, *, compact: bool = False) -> None:
    """Dollar ticks on a Bokeh axis (or ``fig.yaxis``): ``$101,000`` or, compact, ``$101.0k``."""
    axis.formatter = NumeralTickFormatter(format=MONEY_TICKS_COMPACT if compact else MONEY_TICKS)


def percent_axis(axis: Any, *, fine: bool = False) -> None:
    """Percent ticks on an axis whose values are fractions (``-0.2`` -> ``-20%``)."""
    axis.formatter = NumeralTickFormatter(format=PERCENT_TICKS_FINE if fine else PERCENT_TICKS)


def price_axis(axis: Any) -> None:
    """Price ticks with separators and no exponent: ``4,500`` or ``0.25``."""
    axis.formatter = NumeralTickFormatter(format=PRICE_TICKS)


def ratio(x: float | None, decimals: int = 2, signed: bool = False) -> str:
    """A plain number such as a Sharpe ratio: ``1.23``, ``−0.45`` (``+0.12`` when ``signed``)."""
    if _missing(x):
        return MISSING
    assert x is not None
    shown = _rounded(x, decimals)
    return f"{_sign(x, shown, plus=signed)}{_grouped(shown, decimals)}"


def when_label(text: str | None) -> str:
    """A date or time written in ISO form (``2024-05-01``, ``2024-05-01T14:30:00``) as :func:`bar_label`
    shows it; text that is not ISO is returned as it is."""
    if not text:
        return MISSING
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    return bar_label(at)


GAIN_COLOR = "#1b7a36"  # green, 5.4:1 on white (WCAG AA for text)
LOSS_COLOR = "#b00020"  # red, 7.3:1 on white


def change_color(x: float | None, decimals: int = 2) -> str | None:
    """The colour of a change as shown at ``decimals`` places: green up, red down, none for a change
    that shows as zero or is unknown (a ``$0.00`` day is not painted as a gain or a loss)."""
    if _missing(x):
        return None
    assert x is not None
    if _rounded(x, decimals) == 0:
        return None
    return GAIN_COLOR if x > 0 else LOSS_COLOR
