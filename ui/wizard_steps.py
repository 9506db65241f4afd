"""The wizard's steps as data: form values -> profile sections, the checks of one step, the review.

Independent of Panel and of the host app, so it is unit tested on plain dicts. ``values`` is
the form's state keyed by widget key (:data:`STEP_FIELDS`); the text boxes hold what the
trader typed (symbols, exposures, stop loss), parsed here with errors naming the field.

A step is checked on its own section (the same ``contracts.profile.WIZARD_STEPS`` model the
cloud's ``validate?step=N`` uses) and then against the steps before it: a check that spans
steps (exposures per regime, live mode and its broker) is decided at the step that completes
it, not only at the review.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from contracts.profile import AUTO_STATES, BUNDLED_SYMBOLS, REARM_WORDS, WIZARD_STEPS, BotProfile
from ui.wizard_portfolio import (
    data_words,
    model_fields,
    scope_words,
    strategy_fields,
    symbols_of,
    weights_words,
)
from ui.wizard_words import LABELS, SECTIONS, FieldProblem, Problem, problem

STEP_TITLES = ("Basics", "Broker", "Market", "Model", "Strategy & risk", "Schedule", "Review")
REVIEW_STEP = len(STEP_TITLES)
STEP_FIELDS: tuple[tuple[str, ...], ...] = (
    ("name", "surface", "mode", "live_confirmation"),
    ("connection",),
    ("symbols", "bar_interval", "asset_class", "data_source", "data_file"),
    (
        "n_states",
        "auto_states",
        "features",
        "training_window",
        "refit_every",
        "min_persistence",
        "prob_threshold",
        "scope",
        "reference_symbol",
    ),
    (
        "exposure_per_regime",
        "weights",
        "max_position_pct",
        "max_daily_loss_pct",
        "max_drawdown_pct",
        "rearm",
        "rearm_calm_bars",
        "stop_loss_pct",
        "rebalance_band_pct",
        "min_hold_bars",
    ),
    ("run", "timezone", "starting_cash", "notify_channels", "notify_events"),
)
"""Widget keys per step (1-6); each is the profile field it fills, but ``auto_states`` (the box that
makes ``n_states`` read ``auto``) and ``notify_channels``/``notify_events`` (``schedule.notify``).
``scope``, ``reference_symbol`` and ``weights`` are shown and sent with two or more symbols only."""
PORTFOLIO_FIELDS = ("scope", "reference_symbol", "weights")

BUILT_IN = "paper: built-in simulator (no market data)"
# a check spanning steps is decided at the step its last input is on (default: the step of its field)
_DECIDED_AT = {"basics.mode": 2}


def step_title(step: int) -> str:
    """``Step 3 of 7: Market`` - the review counts as the seventh step everywhere."""
    return f"Step {step} of {REVIEW_STEP}: {STEP_TITLES[step - 1]}"


def connection_choices(connections: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Step 2's picker from the API's broker connections (``GET /api/v1/brokers``): label -> id,
    after the built-in paper simulator."""
    options = {BUILT_IN: "paper"}
    for c in connections:
        account = "paper" if c.get("paper") else "LIVE" if c.get("paper") is False else "reconnect: paper or live?"
        venue = f"{c['kind']} {c['exchange']}" if c.get("exchange") else c["kind"]
        options[f"{c['label']} ({venue}, {account}) · {str(c['id'])[:8]}"] = str(c["id"])
    return options


def profile_connection(picked: str) -> str:
    """What the profile says for a picked account: ``paper``, a connection id, or ``paper`` for a
    host's own choice (the agent's local ``.env``: its credentials are not in the profile)."""
    if picked == "paper":
        return picked
    try:
        return str(uuid.UUID(picked))
    except ValueError:
        return "paper"


def _numbers(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise FieldProblem(field, "write numbers separated by commas, e.g. 0, 0.5, 1") from None


def _optional_number(text: str, field: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise FieldProblem(field, "a number, or empty for none") from None


def section(step: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """Step ``step``'s profile section from the form (raises :class:`FieldProblem`)."""
    v = values
    if step == 1:
        out: dict[str, Any] = {"name": v["name"], "surface": v["surface"], "mode": v["mode"]}
        if v["mode"] == "live":
            out["live_confirmation"] = v["live_confirmation"]
        return out
    if step == 2:
        return {"connection": profile_connection(str(v["connection"]))}
    if step == 3:
        out = {
            "symbols": symbols_of(str(v["symbols"])),
            "bar_interval": v["bar_interval"],
            "asset_class": v["asset_class"],
            "data_source": v["data_source"],
        }
        if str(v["data_file"] or "").strip():
            out["data_file"] = str(v["data_file"]).strip()
        return out
    if step == 4:
        out = {key: v[key] for key in STEP_FIELDS[3] if key != "auto_states" and key not in PORTFOLIO_FIELDS}
        if v.get("auto_states"):
            out["n_states"] = "auto"
        return out | model_fields(v)
    if step == 5:
        out = {
            "exposure_per_regime": _numbers(str(v["exposure_per_regime"]), "exposure_per_regime"),
            "max_position_pct": v["max_position_pct"],
            "max_daily_loss_pct": v["max_daily_loss_pct"],
            "max_drawdown_pct": v["max_drawdown_pct"],
            "rearm": v["rearm"],
            "rearm_calm_bars": v["rearm_calm_bars"],
            "rebalance_band_pct": v["rebalance_band_pct"],
            "min_hold_bars": v["min_hold_bars"],
        }
        stop = _optional_number(str(v["stop_loss_pct"] or ""), "stop_loss_pct")
        if stop is not None:
            out["stop_loss_pct"] = stop
        return out | strategy_fields(v)
    # step 6: the confirmation is asked on the review, next to the settings it confirms
    notify = {"channels": list(v.get("notify_channels") or []), "events": list(v.get("notify_events") or [])}
    return {
        "run": v["run"],
        "timezone": v["timezone"],
        "starting_cash": v["starting_cash"],
        "notify": notify,
        "confirmed": True,
    }


def profile_body(values: Mapping[str, Any], *, through: int = 6) -> dict[str, Any]:
    """The profile from steps 1..``through``; later steps hold defaults that agree with the earlier
    ones (one exposure per regime), so only what the trader has filled in can be at fault."""
    body = {key: section(n, values) for n, key in enumerate(SECTIONS, start=1) if n <= through}
    body.setdefault("market", {"symbols": [BUNDLED_SYMBOLS["sp500"]]})
    regimes = body.get("model", {}).get("n_states", 3)
    if "strategy" not in body and isinstance(regimes, int) and 2 <= regimes <= 6:
        body["strategy"] = {"exposure_per_regime": [0.0] * regimes}
    body.setdefault("schedule", {"confirmed": True})
    return body


def section_problems(step: int, body: Mapping[str, Any]) -> list[Problem]:
    """The step's own model (what the cloud's ``validate?step=N`` checks too)."""
    try:
        WIZARD_STEPS[step].model_validate(body)
    except ValidationError as exc:
        return [problem(e["loc"], e["msg"]) for e in exc.errors()]
    return []


def spanning_problems(step: int, values: Mapping[str, Any]) -> list[Problem]:
    """Checks across steps that steps 1..``step`` decide (3 exposures for 4 regimes: at step 5)."""
    try:
        BotProfile.model_validate(profile_body(values, through=step))
    except FieldProblem as exc:
        return [exc.problem]
    except ValidationError as exc:
        found = []
        for e in exc.errors():
            where = ".".join(map(str, e["loc"]))
            head = where.split(".")[0]
            decided = _DECIDED_AT.get(where, SECTIONS.index(head) + 1 if head in SECTIONS else step)
            if decided <= step:
                found.append(problem(e["loc"], e["msg"]))
        return found
    return []


def local_problems(step: int, values: Mapping[str, Any]) -> list[Problem]:
    """Everything this side can tell about step ``step`` (1-6), without asking the cloud."""
    try:
        body = section(step, values)
    except FieldProblem as exc:
        return [exc.problem]
    return section_problems(step, body) or spanning_problems(step, values)


# ---- the review -----------------------------------------------------------------------------------


def _pct(value: float) -> str:
    """``3`` -> ``3%``; the lead switches this to ui.format at merge."""
    return f"{value:,.10g}%"


def _share(fraction: float) -> str:
    """An exposure (-1..1) as a percentage of equity: ``0.5`` -> ``50%``."""
    return f"{fraction * 100:,.4g}%"


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _states(n_states: int | str) -> str:
    if n_states == "auto":
        return f"auto: {AUTO_STATES[0]}-{AUTO_STATES[1]}, chosen at each refit (BIC)"
    return str(n_states)


def _rearm(rule: str, calm_bars: int) -> str:
    """How a drawdown halt ends, as the risk engine says it (``manual`` waits for you)."""
    return f"{rule}: {REARM_WORDS[rule].format(n=calm_bars)}"


def review_rows(profile: BotProfile, *, connection_label: str | None = None) -> list[tuple[str, str, str]]:
    """(step title, field label, value as a trader reads it) for every setting of the bot."""
    b, m, mo, s, sc = profile.basics, profile.market, profile.model, profile.strategy, profile.schedule
    exposures = " · ".join(f"regime {n}: {_share(x)}" for n, x in enumerate(s.exposure_per_regime, start=1))
    portfolio = len(m.symbols) > 1
    rows = [
        ("Basics", "name", b.name),
        ("Basics", "surface", b.surface),
        ("Basics", "mode", "LIVE: real money" if b.mode == "live" else "paper"),
        ("Broker", "connection", connection_label or profile.broker.connection),
        ("Market", "symbols", ", ".join(m.symbols)),
        ("Market", "bar_interval", m.bar_interval),
        ("Market", "asset_class", m.asset_class),
        ("Market", "data_source", data_words(m.data_source, m.data_file)),
        ("Model", "n_states", _states(mo.n_states)),
        ("Model", "features", ", ".join(f.replace("_", " ") for f in mo.features)),
        ("Model", "training_window", f"{mo.training_window:,} bars ({mo.window_kind})"),
        ("Model", "refit_every", f"{mo.refit_every:,} bars"),
        ("Model", "min_persistence", f"{mo.min_persistence:,} bars"),
        ("Model", "prob_threshold", _share(mo.prob_threshold)),
        *([("Model", "scope", scope_words(profile))] if portfolio else []),
        ("Strategy & risk", "exposure_per_regime", f"{exposures} (most volatile regime first)"),
        *([("Strategy & risk", "weights", weights_words(m.symbols, s.weights))] if portfolio else []),
        ("Strategy & risk", "max_position_pct", f"{_pct(s.max_position_pct)} of equity"),
        ("Strategy & risk", "max_daily_loss_pct", _pct(s.max_daily_loss_pct)),
        ("Strategy & risk", "max_drawdown_pct", f"{_pct(s.max_drawdown_pct)} below peak: flatten, then re-arm"),
        ("Strategy & risk", "rearm", _rearm(s.rearm, s.rearm_calm_bars)),
        (
            "Strategy & risk",
            "rebalance_band_pct",
            "rebalance every bar"
            if s.rebalance_band_pct == 0
            else f"trade only when the target moves more than {_pct(s.rebalance_band_pct)} of equity",
        ),
        (
            "Strategy & risk",
            "min_hold_bars",
            "none" if s.min_hold_bars == 0 else f"{s.min_hold_bars:,} bars between trades (exits excepted)",
        ),
        ("Strategy & risk", "stop_loss_pct", "none" if s.stop_loss_pct is None else _pct(s.stop_loss_pct)),
        ("Schedule", "run", "after each bar closes" if sc.run == "after_close" else "every bar, continuously"),
        ("Schedule", "timezone", sc.timezone),
        ("Schedule", "starting_cash", _money(sc.starting_cash)),
        ("Schedule", "notify", notify_summary(sc.notify.events, len(sc.notify.channels))),
    ]
    return [(title, LABELS[key], value) for title, key, value in rows]


NOTIFY_EVENT_WORDS: dict[str, str] = {
    "regime_change": "regime changes",
    "halt": "trading halted",
    "rearm": "trading re-armed",
    "order_rejected": "order rejected",
    "bot_stopped": "bot stopped",
    "bot_failed": "bot failed",
    "daily_summary": "daily summary",
}
"""Step 6's notification choices as a trader reads them, by ``contracts.notify`` kind."""


def notify_choices(channels: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Step 6's channel picker from ``GET /api/v1/notification-channels`` (or the agent's own): label -> id."""
    return {f"{c['label']} ({c['kind']}: {c['target']})": str(c["id"]) for c in channels}


def notify_summary(events: Sequence[str], channels: int) -> str:
    if not events or not channels:
        return "none"
    what = ", ".join(NOTIFY_EVENT_WORDS.get(e, e) for e in events)
    return f"{what} on {channels} channel{'s' if channels != 1 else ''}"
