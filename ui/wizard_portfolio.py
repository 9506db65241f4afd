"""The wizard's portfolio fields: several symbols, whose regime sets their exposure, and their weights.

A bot with one symbol never sees these fields (and its profile is unchanged); with two or more,
step 4 asks where the regime is read (one model on a reference series, or a model per symbol)
and step 5 how the capital is split. The trader writes weights as percentages (``60, 40``), the
profile holds fractions (``[0.6, 0.4]``): the range checks are made here, in the trader's units,
so an error never says ``at most 1`` about a field that reads ``60``. The count check (one weight
per symbol) and the reference symbol are the profile's, shown at their field by the wizard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from contracts.profile import BUNDLED_SERIES, SYMBOL_PLACEHOLDER, WEIGHT_SLACK, BotProfile
from ui.wizard_words import FieldProblem

EQUAL = "equal"
"""What the weights field holds for equal weights (empty means the same)."""
SCOPE_CHOICES: dict[str, str] = {
    "one model on a reference series sets every symbol's exposure": "reference",
    "a model per symbol, each on its own series": "per_symbol",
}
"""Step 4's scope picker, label -> ``model.scope``."""
BUNDLED_LABEL = "bundled: S&P 500 + NASDAQ (SPY, QQQ)"
DATA_CHOICES: dict[str, str] = {
    "sp500": "sp500",
    "nasdaq": "nasdaq",
    BUNDLED_LABEL: "bundled",
    "broker": "broker",
    "file": "file",
}
"""Step 3's data picker, label -> ``market.data_source`` (the one-series sources keep their names)."""
_SEPARATORS = re.compile(r"[,;\s]+")


def symbols_of(text: str) -> list[str]:
    """The symbols as typed, separated by commas or spaces: ``"SPY, QQQ"`` and ``"SPY QQQ"`` alike."""
    return [s for s in _SEPARATORS.split(text.strip()) if s]


def is_portfolio(values: Mapping[str, Any]) -> bool:
    """Two or more symbols typed at step 3: the portfolio fields apply."""
    return len(symbols_of(str(values.get("symbols") or ""))) > 1


def reference_choices(values: Mapping[str, Any]) -> list[str]:
    """The reference picker's options: the symbols typed at step 3, as the profile spells them."""
    return [s.upper() for s in symbols_of(str(values.get("symbols") or ""))]


def model_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Step 4's portfolio part of ``model`` (nothing for one symbol, so its profile is unchanged)."""
    if not is_portfolio(values):
        return {}
    scope = str(values.get("scope") or "reference")
    out: dict[str, Any] = {"scope": scope}
    reference = str(values.get("reference_symbol") or "").strip()
    if scope == "reference" and reference:
        out["reference_symbol"] = reference
    return out


def weights_of(text: str) -> list[float] | None:
    """Percentages per symbol (``60, 40`` or ``60%, 40%``) as fractions; ``equal`` or empty is None."""
    text = text.strip()
    if not text or text.lower() == EQUAL:
        return None
    try:
        percents = [float(x.strip().removesuffix("%")) for x in re.split(r"[,;]", text) if x.strip()]
    except ValueError:
        raise FieldProblem(
            "weights", f"write '{EQUAL}', or one percentage per symbol separated by commas, e.g. 60, 40"
        ) from None
    for n, percent in enumerate(percents, start=1):
        if not 0 <= percent <= 100:
            raise FieldProblem("weights", f"value {n}: {percent:g}% is not between 0% and 100%")
    if sum(percents) > 100 * (1 + WEIGHT_SLACK):
        shown = " + ".join(f"{p:g}%" for p in percents)
        raise FieldProblem(
            "weights", f"they add up to {sum(percents):g}% ({shown}): at most 100%, the rest stays in cash"
        )
    return [p / 100 for p in percents]


def strategy_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Step 5's portfolio part of ``strategy`` (raises :class:`FieldProblem`)."""
    if not is_portfolio(values):
        return {}
    weights = weights_of(str(values.get("weights") or ""))
    return {} if weights is None else {"weights": weights}


def file_hint(values: Mapping[str, Any]) -> str:
    """What the bar file field asks for: one file, or one per symbol through the placeholder."""
    if is_portfolio(values):
        where = SYMBOL_PLACEHOLDER
        return f"Bar files (data 'file' only), one per symbol: put {where} where the symbol goes (data/{where}.csv)"
    return "Bar file (data 'file' only)"


# ---- the review -----------------------------------------------------------------------------------


def _percent(fraction: float) -> str:
    return f"{fraction * 100:,.4g}%"


def scope_words(profile: BotProfile) -> str:
    """``one model on SPY sets every symbol's exposure`` or ``a model per symbol``."""
    model, symbols = profile.model, profile.market.symbols
    if model.scope == "per_symbol":
        return f"a model per symbol ({', '.join(symbols)}), each on its own series"
    return f"one model on {model.reference_symbol or symbols[0]} sets every symbol's exposure"


def weights_words(symbols: Sequence[str], weights: Sequence[float] | None) -> str:
    """``SPY 60% · QQQ 40%``; equal weights say so; what is left over stays in cash."""
    shares = list(weights) if weights is not None else [1 / len(symbols)] * len(symbols)
    listed = " · ".join(f"{s} {_percent(w)}" for s, w in zip(symbols, shares, strict=True))
    cash = 1 - sum(shares)
    rest = f" · {_percent(cash)} stays in cash" if cash > WEIGHT_SLACK else ""
    return f"{'equal: ' if weights is None else ''}{listed}{rest}"


def data_words(source: str, data_file: str | None) -> str:
    """The data source as the review shows it (the bundled pair named by its series)."""
    if source == "bundled":
        return f"bundled: S&P 500 + NASDAQ ({', '.join(BUNDLED_SERIES)})"
    return source + (f" ({data_file})" if data_file else "")
