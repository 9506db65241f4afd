"""The Backtests page's words: a run's metrics, its symbols and the profile it used as tables a
trader reads, and a refused profile as the wizard words it. Plain functions of dicts and models,
unit tested without a browser (``agent.dashboard.backtests`` lays them out).

Metrics carry the report's names and formats (``trader.evaluation_html.PERFORMANCE_ROWS``,
``ui.format``), regimes the profile's names (``ui.regimes`` through
``trader.report_html.time_per_regime``); the profile the wizard review's rows
(``ui.wizard_steps.review_rows``); errors ``ui.wizard_words.problem``.
"""

from __future__ import annotations

import html
from typing import Any

from pydantic import ValidationError

from contracts.profile import BotProfile
from trader.evaluation_html import PERFORMANCE_ROWS, Cell
from trader.report_html import time_per_regime
from ui import format as fmt
from ui.wizard_steps import review_rows
from ui.wizard_words import LABELS, problem


def symbols_table(metrics: dict[str, Any]) -> str:
    """A portfolio's row per symbol; empty for a one-symbol run."""
    symbols: dict[str, dict[str, Any]] = metrics.get("symbols") or {}
    if not symbols:
        return ""
    rows = "".join(
        f'<tr data-symbol="{html.escape(symbol)}"><td>{html.escape(symbol)}</td>'
        f"<td>{fmt.pct(leg.get('weight'), 0)}</td><td>{fmt.count(leg.get('trades'))}</td>"
        f"<td>{fmt.money(leg.get('costs'))}</td><td>{fmt.pct(leg.get('average_exposure'))}</td>"
        f"<td>{fmt.pct(leg.get('contribution'), 2, signed=True)}</td></tr>"
        for symbol, leg in symbols.items()
    )
    return (
        '<table class="hmm symbols"><tr><th>symbol</th><th>weight</th><th>trades</th>'
        "<th>commission + slippage</th><th>average exposure</th><th>contribution to return</th></tr>"
        f"{rows}</table>"
    )


def _cell(value: Any, write: Cell) -> str:
    return fmt.MISSING if value is None else html.escape(str(write(value)))


def metrics_table(metrics: dict[str, Any], exposures: list[float] | None = None) -> str:
    """Strategy against buy-and-hold with the report's names and formats; time per regime by name."""
    strategy, hold = metrics.get("strategy", {}), metrics.get("benchmark", {})
    rows = "".join(
        f"<tr><td>{title}</td><td>{_cell(strategy.get(key), write)}</td><td>{_cell(hold.get(key), write)}</td></tr>"
        for title, key, write in PERFORMANCE_ROWS
        if key in strategy
    )
    if "average_exposure" in strategy:
        legs = (metrics.get("symbols") or {}).values()
        held = sum(leg.get("weight", 0.0) for leg in legs) if legs else 1.0  # a portfolio's weights may leave cash
        rows += (
            f"<tr><td>Average exposure</td><td>{fmt.pct(strategy['average_exposure'], 0)}</td>"
            f"<td>{fmt.pct(held, 0)}</td></tr>"
        )
    shares = strategy.get("regime_time_share", {})
    in_regimes = f"Time per regime: {html.escape(time_per_regime(shares, exposures))}" if shares else ""
    hold_name = html.escape(str(hold.get("name", "buy and hold")))
    span = f"{fmt.when_label(metrics.get('first_decision'))} to {fmt.when_label(metrics.get('last_decision'))}"
    return (
        f'<table class="hmm metrics"><tr><th>metric</th><th>strategy</th><th>{hold_name}</th></tr>{rows}</table>'
        f"<p>{fmt.count(metrics.get('bars'))} decision bars, {html.escape(span)}. {in_regimes}</p>"
        f"{symbols_table(metrics)}"
    )


def run_profile(body: dict[str, Any]) -> BotProfile | None:
    """The profile a run was started with; None for a run saved before profiles were, or one that no longer reads."""
    try:
        return BotProfile.model_validate(body)
    except ValidationError:
        return None


def named_exposures(profile: BotProfile | None) -> list[float] | None:
    """What the run's regimes are named by; none with ``n_states: auto`` (the count changes per refit)."""
    if profile is None or profile.model.n_states == "auto":
        return None
    return list(profile.strategy.exposure_per_regime)


BACKTEST_STEPS = ("Market", "Model", "Strategy & risk")  # what a backtest reads; the rest is how a bot runs


def profile_table(profile: BotProfile) -> str:
    """The settings a run used, in the wizard review's words: market, model, strategy and the starting cash."""
    rows = [
        (label, value)
        for step, label, value in review_rows(profile)
        if step in BACKTEST_STEPS or label in (LABELS["name"], LABELS["starting_cash"])
    ]
    body = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>" for label, value in rows)
    return f'<h4>Profile used</h4><table class="hmm bt-profile-table">{body}</table>'


def profile_error(exc: ValidationError) -> str:
    """The profile's first problems, each at its field in the wizard's words (no ``Value error``)."""
    lines = []
    for error in exc.errors()[:3]:
        if error["type"] == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            why = f" ({reason})" if reason else ""
            lines.append(f"Profile JSON cannot be read{why}: check its brackets, quotes and commas")
            continue
        found = problem(error["loc"], error["msg"])
        where = " ".join(str(part) for part in error["loc"])  # a whole section: "Profile basics: required"
        lines.append(str(found) if found.field in LABELS else f"Profile {where}: {found.message}".replace(" :", ":"))
    return "; ".join(dict.fromkeys(lines))
