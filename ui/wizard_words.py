"""The wizard's words: field labels, and validation errors rewritten for a trader.

The profile's validators (:mod:`contracts.profile`) already write their own messages for a
trader, but pydantic wraps them (``Value error, ...``), its built-in checks speak in types
(``Input should be less than or equal to 6``), and both locate errors by field key
(``strategy.exposure_per_regime``). The cloud's step check answers with the same text. This
module turns either into one line that starts with the field's label as the form shows it,
so the error is seen at the field it is about, in the wizard of the agent and of the web app
alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SECTIONS = ("basics", "broker", "market", "model", "strategy", "schedule")
"""The profile's sections, in wizard step order (step 1 is ``basics``)."""

LABELS: dict[str, str] = {
    "name": "Bot name",
    "surface": "Runs on",
    "mode": "Mode",
    "live_confirmation": "Live confirmation",
    "connection": "Broker account",
    "symbols": "Symbols",
    "bar_interval": "Bar",
    "asset_class": "Asset class",
    "data_source": "Data",
    "data_file": "Bar file",
    "n_states": "Regimes",
    "auto_states": "Choose the number of regimes automatically",
    "features": "Features",
    "training_window": "Training window",
    "window_kind": "Window",
    "refit_every": "Refit every",
    "min_persistence": "Min persistence",
    "prob_threshold": "Probability threshold",
    "random_seed": "Random seed",
    "scope": "Regime read from",
    "reference_symbol": "Reference series",
    "exposure_per_regime": "Exposure per regime",
    "weights": "Capital weights",
    "max_position_pct": "Max position",
    "max_daily_loss_pct": "Max daily loss",
    "max_drawdown_pct": "Max drawdown",
    "stop_loss_pct": "Stop loss",
    "rearm": "Re-arm after a halt",
    "rearm_calm_bars": "Calm bars to re-arm",
    "rebalance_band_pct": "No-trade band",
    "min_hold_bars": "Minimum holding time",
    "vol_target_pct": "Volatility target",
    "run": "Run",
    "timezone": "Time zone",
    "start_date": "Start date",
    "starting_cash": "Starting cash",
    "notify": "Notifications",
    "notify_channels": "Notify on",
    "notify_events": "Notify about",
    "confirmed": "Confirmation",
}
"""Profile field key -> the label the form shows (the keys are the same in every section)."""

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
_PLAIN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"^Input should be less than or equal to (\S+)$", r"at most \1"),
        (r"^Input should be greater than or equal to (\S+)$", r"at least \1"),
        (r"^Input should be less than (\S+)$", r"less than \1"),
        (r"^Input should be greater than (\S+)$", r"more than \1"),
        (r"^List should have at least (\d+) items? after validation, not (\d+)$", r"give at least \1, not \2"),
        (r"^List should have at most (\d+) items? after validation, not (\d+)$", r"give at most \1, not \2"),
        (r"^String should have at least 1 character$", "cannot be empty"),
        (r"^String should have at most (\d+) characters$", r"at most \1 characters"),
        (r"^Input should be (('[^']*'(, | or )?)+)$", r"choose \1"),
        (r"^Input should be a valid integer.*$", "write a whole number"),
        (r"^Input should be a valid number.*$", "write a number"),
        (r"^Field required$", "required"),
        (r"^Extra inputs are not permitted$", "not a field of this step"),
    )
)
_KEY_IN_TEXT = re.compile(r"\b(?:(?:" + "|".join(SECTIONS) + r")\.)?([a-z]+(?:_[a-z]+)+)\b")


@dataclass(frozen=True)
class Problem:
    """One thing to fix: ``field`` is a profile field key (None for the step as a whole)."""

    field: str | None
    message: str
    by_cloud: bool = False

    def __str__(self) -> str:
        return f"{LABELS[self.field]}: {self.message}" if self.field in LABELS else self.message


class FieldProblem(ValueError):
    """What was typed cannot be read (``abc`` for a number): raised before any model check."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(field, message)


def field_key(location: Sequence[Any] | str) -> str | None:
    """The field an error location points at: ``market.symbols.0`` -> ``symbols``; ``()`` -> None."""
    parts = location.split(".") if isinstance(location, str) else [str(p) for p in location]
    names = [p for p in parts if p and p not in SECTIONS and p not in ("body", "step") and not p.isdigit()]
    return names[0] if names else None


def plain(message: str) -> str:
    """Pydantic's wording made plain; field keys inside the text become their labels."""
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    for pattern, words in _PLAIN:
        if pattern.match(message):
            message = pattern.sub(words, message)
            break
    return _KEY_IN_TEXT.sub(lambda m: LABELS.get(m.group(1), m.group(0)).lower(), message)


def problem(location: Sequence[Any] | str, message: str, *, by_cloud: bool = False) -> Problem:
    """An error from the profile model or the cloud, at its field and in plain words.

    A check that spans a section's fields (pydantic locates it at the section) names its field
    first in its text (``training_window of 10 bars is too short ...``): it is shown there.
    """
    key = field_key(location)
    index = _list_index(location)
    if key is None:
        starts = re.match(r"^(?:Value error, )?([a-z]+(?:_[a-z]+)+)\b", message)
        key = starts.group(1) if starts and starts.group(1) in LABELS else None
    words = plain(message)
    if key in LABELS:  # "training window of 120 bars is too short" after its label: "120 bars is too short"
        for joint in (" of ", " is "):
            words = words.removeprefix(LABELS[key].lower() + joint)
    if index is not None:
        words = f"value {index + 1}: {words}"
    return Problem(key, words, by_cloud)


def _list_index(location: Sequence[Any] | str) -> int | None:
    parts = location.split(".") if isinstance(location, str) else [str(p) for p in location]
    return int(parts[-1]) if parts and parts[-1].isdigit() else None


def cloud_problems(errors: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """The API's field errors (``{"field": "market.symbols", "msg": ...}``) as problems."""
    return [problem(str(e.get("field") or ""), str(e.get("msg") or ""), by_cloud=True) for e in errors]


def hosted_refusal(billing: Mapping[str, Any]) -> list[str]:
    """Why the account's plan cannot take one more hosted bot (``GET /api/v1/billing``), if it cannot."""
    plan, limits, usage = billing["plan"], billing["limits"], billing["usage"]
    label = LABELS["surface"]
    if not limits["hosted_allowed"]:
        return [
            f"{label}: your {plan} plan runs bots on your own machine only: hosted bots need the pro "
            "or team plan. Choose 'local' to run it on your computer, or upgrade your plan."
        ]
    if usage["hosted_bots"] >= limits["max_hosted_bots"]:
        return [
            f"{label}: your {plan} plan allows {limits['max_hosted_bots']} hosted bots and you have "
            f"{usage['hosted_bots']}: delete one, choose 'local', or upgrade."
        ]
    return []
