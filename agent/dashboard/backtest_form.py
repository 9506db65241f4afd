"""The Backtests page's profile form: the wizard's own widgets (``ui.wizard_form``) for what a
backtest reads — market, model, strategy and the starting cash — kept in step with the page's
JSON editor both ways, so a trader can change a setting without editing JSON.

The form writes only the keys its steps own (``ui.wizard_steps.STEP_FIELDS``); anything else in
the JSON (a bot's broker, schedule, notifications) is left as it was. Fields the form does not
show (a portfolio's scope and weights, the rebalance band) are filled from the profile, so
applying the form keeps them.
"""

from __future__ import annotations

import copy
from typing import Any

import panel as pn

from contracts.profile import BotProfile
from ui.wizard_form import form_widgets
from ui.wizard_portfolio import EQUAL
from ui.wizard_steps import STEP_FIELDS, section

SHOWN = (
    "symbols",
    "n_states",
    "training_window",
    "refit_every",
    "min_persistence",
    "prob_threshold",
    "exposure_per_regime",
    "max_drawdown_pct",
    "max_daily_loss_pct",
    "stop_loss_pct",
    "starting_cash",
)
"""The fields on the page; the rest of the three steps' fields travel off the page. The data source is
one of them: the page's own Data picker says what a one-symbol run reads."""
STEPS = ((3, "market"), (4, "model"), (5, "strategy"))


def _numbers(values: list[float]) -> str:
    return ", ".join(f"{x:g}" for x in values)


def form_values(profile: BotProfile) -> dict[str, Any]:
    """The wizard form's values (steps 3-5 and the starting cash) for ``profile``."""
    m, mo, s = profile.market, profile.model, profile.strategy
    return {
        "symbols": ", ".join(m.symbols),
        "bar_interval": m.bar_interval,
        "asset_class": m.asset_class,
        "data_source": m.data_source,
        "data_file": m.data_file or "",
        "n_states": mo.n_states if isinstance(mo.n_states, int) else len(s.exposure_per_regime),
        "auto_states": mo.n_states == "auto",
        "features": list(mo.features),
        "training_window": mo.training_window,
        "refit_every": mo.refit_every,
        "min_persistence": mo.min_persistence,
        "prob_threshold": mo.prob_threshold,
        "scope": mo.scope,
        "reference_symbol": mo.reference_symbol or "",
        "exposure_per_regime": _numbers(list(s.exposure_per_regime)),
        "weights": EQUAL if s.weights is None else _numbers([100 * w for w in s.weights]),
        "max_position_pct": s.max_position_pct,
        "max_daily_loss_pct": s.max_daily_loss_pct,
        "max_drawdown_pct": s.max_drawdown_pct,
        "rearm": s.rearm,
        "rearm_calm_bars": s.rearm_calm_bars,
        "stop_loss_pct": "" if s.stop_loss_pct is None else f"{s.stop_loss_pct:g}",
        "rebalance_band_pct": s.rebalance_band_pct,
        "min_hold_bars": s.min_hold_bars,
        "starting_cash": profile.schedule.starting_cash,
    }


def edited(body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its market, model and strategy from the form and its starting cash (raises
    ``ui.wizard_words.FieldProblem`` for text that is not numbers)."""
    out = copy.deepcopy(body)
    for step, key in STEPS:
        owned = set(STEP_FIELDS[step - 1])
        kept = {k: v for k, v in (out.get(key) or {}).items() if k not in owned}
        out[key] = kept | section(step, values)
    out["schedule"] = {**(out.get("schedule") or {}), "starting_cash": values["starting_cash"]}
    return out


class ProfileForm:
    """The widgets, in a collapsed card, and the two directions: :meth:`fill` and :meth:`values`."""

    def __init__(self) -> None:
        everything = form_widgets(["local"])
        self.widgets = {key: everything[key] for step, _ in STEPS for key in STEP_FIELDS[step - 1]}
        self.widgets["starting_cash"] = everything["starting_cash"]
        for key in SHOWN:
            self.widgets[key].sizing_mode = "fixed"
            self.widgets[key].width = 260  # two columns on a desktop, one on a phone
        self.apply = pn.widgets.Button(name="Apply to the profile", css_classes=["bt-form-apply"])
        self.message = pn.pane.HTML("", css_classes=["bt-form-message"], sizing_mode="stretch_width")
        self.card = pn.Card(
            pn.FlexBox(*(self.widgets[key] for key in SHOWN), flex_wrap="wrap"),
            pn.FlexBox(self.apply, self.message, flex_wrap="wrap", align_items="center"),
            title="Edit with the wizard's fields",
            collapsed=True,
            sizing_mode="stretch_width",
            css_classes=["bt-form"],
        )

    def fill(self, profile: BotProfile) -> None:
        values = form_values(profile)
        reference = self.widgets["reference_symbol"]  # a picker of the symbols typed: give it this profile's
        reference.options = list(dict.fromkeys([*profile.market.symbols, values["reference_symbol"]]))
        for key, value in values.items():
            self.widgets[key].value = value

    def values(self) -> dict[str, Any]:
        return {key: widget.value for key, widget in self.widgets.items()}
