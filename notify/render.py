"""Numbers in a notification, written for a trader: ``$101,000.50``, ``+$12.00``, ``Crisis (regime 2)``.

Kept here rather than borrowed from ``ui.format``, which pulls in Bokeh: the notifier runs
in workers and the agent's delivery loop, not on a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MISSING = "–"


def money(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return MISSING
    return f"-${abs(x):,.2f}" if x < 0 else f"${x:,.2f}"


def signed_money(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return MISSING
    if round(x, 2) == 0:
        return "$0.00"
    return f"+${x:,.2f}" if x > 0 else f"-${abs(x):,.2f}"


def pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{x * 100:+.2f}%"


def regime_name(regime: object, names: Sequence[str] | None = None) -> str:
    """The profile's name for a regime when known (``Risk-off · 0%``), else ``regime N``."""
    if not isinstance(regime, int):
        return "no regime"
    if names is not None and 0 <= regime < len(names):
        return f"{names[regime]} (regime {regime})"
    return f"regime {regime}"
