"""Regimes named and coloured by what the bot does in them, the same way on every chart.

A regime number means nothing to a trader (and the model's states are relabelled at each
refit): what matters is the exposure the profile gives it. So a regime is named by that
exposure ("Risk-off · 0%", "Cautious · 50%", "Risk-on · 100%", "Short · −50%") and coloured
on one fixed scale of exposure, deep red for short through red (flat) and amber to green
(fully invested). The colour depends on the exposure alone, so 50% looks the same in every
bot, and within a bot the lowest exposure is always the reddest.

Every colour here is dark enough to be text on white (WCAG AA, 4.5:1): the same value serves
for a legend swatch, a shaded span and the regime's name in a sentence.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ui.format import pct

NO_REGIME_COLOR = "#6b6b6b"  # grey: no regime yet (warm-up, halted bar)
NO_REGIME_NAME = "No regime"

# (exposure, colour) anchors; colours between anchors are interpolated.
_SCALE: tuple[tuple[float, str], ...] = (
    (-1.0, "#6d0f2e"),  # short: deep wine
    (0.0, "#c62828"),  # flat: red
    (0.5, "#9a5b00"),  # half in: amber
    (1.0, "#1b7a36"),  # fully in: green
)
# Colours for regimes whose exposures are unknown (a bot seen on the bus with no profile):
# distinct, but not red or green, so they imply nothing about risk.
_UNKNOWN: tuple[str, ...] = ("#1f4e79", "#6a3d9a", "#00695c", "#8c510a", "#37474f", "#ad1457")


def _word(exposure: float) -> str:
    if exposure < 0:
        return "Short"
    if exposure == 0:
        return "Risk-off"
    if exposure < 0.4:
        return "Defensive"
    if exposure < 0.75:
        return "Cautious"
    if exposure < 1:
        return "Constructive"
    return "Risk-on"


def named_exposures(exposures: Sequence[float], n_states: int | str) -> list[float] | None:
    """The exposures regime numbers can be named by: none with ``n_states: auto``, whose number of
    regimes changes from one refit to the next (the charts then say ``Regime k``, not a stance)."""
    return None if n_states == "auto" else list(exposures)


def exposure_name(exposure: float) -> str:
    """``Cautious · 50%``: the stance, then the exposure it stands for."""
    return f"{_word(exposure)} · {pct(exposure, decimals=0)}"


def regime_names(exposures: Sequence[float] | None, n_states: int | None = None) -> list[str]:
    """One name per regime, in regime order.

    Two regimes with the same exposure get the same stance and are told apart by a
    counter (``Risk-off · 0% (2)``), so a legend never lists one name twice. Without
    exposures the names are ``Regime 0``… (the numbers the audit records carry).
    """
    if exposures is None:
        return [f"Regime {k}" for k in range(n_states or len(_UNKNOWN))]
    names: list[str] = []
    for exposure in exposures:
        name = exposure_name(exposure)
        copies = sum(1 for earlier in names if earlier == name or earlier.startswith(f"{name} ("))
        names.append(name if copies == 0 else f"{name} ({copies + 1})")
    return names


def regime_name(regime: int | None, exposures: Sequence[float] | None) -> str:
    """The name of one regime; ``No regime`` for none, ``Regime k`` when the profile is unknown."""
    if regime is None:
        return NO_REGIME_NAME
    if exposures is None or not 0 <= regime < len(exposures):
        return f"Regime {regime}"
    return regime_names(exposures)[regime]


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def exposure_color(exposure: float) -> str:
    """The colour of an exposure on the fixed scale (clamped to −100%…100%)."""
    e = min(max(exposure, _SCALE[0][0]), _SCALE[-1][0])
    for (lo, lo_color), (hi, hi_color) in itertools.pairwise(_SCALE):
        if e <= hi:
            t = (e - lo) / (hi - lo)
            a, b = _rgb(lo_color), _rgb(hi_color)
            r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
            return f"#{r:02x}{g:02x}{bl:02x}"
    return _SCALE[-1][1]  # pragma: no cover - e is clamped to the last anchor


def regime_color(regime: int | None, exposures: Sequence[float] | None) -> str:
    """The colour of a regime: by its exposure when known, grey for no regime."""
    if regime is None:
        return NO_REGIME_COLOR
    if exposures is None or not 0 <= regime < len(exposures):
        return _UNKNOWN[regime % len(_UNKNOWN)]
    return exposure_color(exposures[regime])


def regime_colors(exposures: Sequence[float] | None, n_states: int | None = None) -> list[str]:
    """One colour per regime, in regime order."""
    k = len(exposures) if exposures is not None else (n_states or len(_UNKNOWN))
    return [regime_color(r, exposures) for r in range(k)]


def by_exposure(exposures: Sequence[float] | None, n_states: int | None = None) -> list[int]:
    """Regime numbers from the lowest exposure to the highest (legend and stacking order)."""
    if exposures is None:
        return list(range(n_states or len(_UNKNOWN)))
    return sorted(range(len(exposures)), key=lambda k: (exposures[k], k))


def contrast_on_white(color: str) -> float:
    """WCAG contrast ratio of ``color`` against white (4.5 is AA for body text)."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)
