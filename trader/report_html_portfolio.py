"""``report.html`` for a portfolio: one self-contained page (inline SVG and CSS, no script, no CDN).

The book first: the strategy against the baselines (each symbol's sleeve at its weight, same
costs), the chance tests, then a row per symbol (weight, trades, costs, exposure, what it
added to the return). Then one equity chart for the book against buy-and-hold of the same
weights, its drawdown, a regime ribbon per model, and results per regime and confidence per
model. Every number a trader reads goes through ``ui.format``; regimes are named and coloured by
``ui.regimes`` from the profile's exposures, as on the one-symbol report and the dashboards.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trader.backtest import BacktestResult
from trader.engine import EngineConfig
from trader.evaluation_html import chance_section, comparison_table, group_table, holdout_sections, regime_labels
from trader.report_html import (
    PAD,
    STYLE,
    VIEWPORT,
    WIDTH,
    Exposures,
    drawdown_chart,
    frame,
    legend,
    money_label,
    points,
    report_exposures,
    summary_line,
    svg_figure,
    x_at,
)

RIBBON_HEIGHT = 26


def symbol_table(symbols: dict[str, dict[str, Any]]) -> str:
    """A row per symbol: its weight, trades, costs, average exposure, profit and contribution to the return."""
    from ui import format as fmt  # not at import: the bot image, which ships trader/, has no ui/ nor bokeh

    rows = "".join(
        f"<tr data-symbol='{html.escape(symbol)}'><th>{html.escape(symbol)}</th><td>{fmt.pct(leg['weight'], 0)}</td>"
        f"<td>{fmt.count(leg['trades'])}</td><td>{fmt.money(leg['costs'])}</td>"
        f"<td>{fmt.pct(leg['average_exposure'])}</td><td>{fmt.signed_money(leg['profit'])}</td>"
        f"<td>{fmt.pct(leg['contribution'], 2, signed=True)}</td><td>{fmt.count(leg['held_back'])}</td></tr>"
        for symbol, leg in symbols.items()
    )
    total = sum(leg["contribution"] for leg in symbols.values())
    return (
        "<h2>Per symbol</h2><table class='symbols'><tr><th></th><th>weight</th><th>trades</th>"
        "<th>commission + slippage</th><th>average exposure</th><th>profit</th><th>contribution to return</th>"
        f"<th>bars held back</th></tr>{rows}<tr><th>book</th><td></td><td></td><td></td><td></td><td></td>"
        f"<td>{fmt.pct(total, 2, signed=True)}</td><td></td></tr></table>"
        "<p class='note'>Exposure is the position's value as a share of the book's equity. Contribution: the "
        "symbol's profit after costs as a share of the book's equity at the period's first decision; the rows "
        "add up to the book's return.</p>"
    )


def held_weights(records: Sequence[dict[str, Any]], config: EngineConfig) -> list[float]:
    """The book's starting equity invested in the capital weights at the first decision's closes, never rebalanced."""
    start = {s: records[0]["symbols"][s]["bar"]["close"] for s in config.universe}
    equity = records[0]["equity"]
    cash = equity * (1.0 - sum(config.weight(s) for s in config.universe))
    return [
        cash + sum(equity * config.weight(s) * r["symbols"][s]["bar"]["close"] / start[s] for s in config.universe)
        for r in records
    ]


def equity_chart(dates: list[str], equity: list[float], hold: list[float]) -> str:
    low, high = min(min(equity), min(hold)), max(max(equity), max(hold))
    lines = (
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.4" points="{points(equity, low, high)}"/>'
        f'<polyline fill="none" stroke="#999" stroke-width="1" points="{points(hold, low, high)}"/>'
        f'<text x="{PAD + 6}" y="14" fill="#1f77b4">book</text>'
        f'<text x="{PAD + 56}" y="14" fill="#777">buy and hold, same weights</text>'
    )
    return svg_figure(
        "Equity of the book against buy-and-hold of the same weights", lines + frame(dates, low, high, money_label)
    )


def regime_ribbon(
    model: str, symbols: Sequence[str], regimes: Sequence[int | None], exposures: Exposures = None
) -> str:
    """One strip of colour per run of a regime, for the model on ``model``'s series."""
    from ui import regimes as names  # not at import: the bot image, which ships trader/, has no ui/ nor bokeh

    n, bands, start = len(regimes), [], 0
    step = (WIDTH - 2 * PAD) / max(1, n - 1)
    for i in range(1, n + 1):
        if i == n or regimes[i] != regimes[start]:
            regime = regimes[start]
            if regime is not None:
                x0 = x_at(start, n)
                width = max(0.5, x_at(i - 1, n) + step - x0)
                colour = names.regime_color(regime, exposures)
                bands.append(
                    f'<rect x="{x0:.1f}" y="2" width="{width:.1f}" height="{RIBBON_HEIGHT - 4}" fill="{colour}" '
                    f'opacity="0.7"><title>{html.escape(names.regime_name(regime, exposures))}</title></rect>'
                )
            start = i
    sets = ", ".join(symbols)
    key = legend(sorted({r for r in regimes if r is not None}), exposures)
    return (
        f"<figure class='ribbon' data-model='{html.escape(model)}'><figcaption>Regimes of the model on "
        f"{html.escape(model)} (sets {html.escape(sets)})</figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {RIBBON_HEIGHT}" role="img" aria-label="regimes of the model on '
        f'{html.escape(model)}">{"".join(bands)}</svg>{key}</figure>'
    )


def _model_sections(evaluation: dict[str, Any], exposures: Exposures) -> str:
    parts = []
    for model, groups in evaluation["by_model"].items():
        title = f"Results per regime of the model on {html.escape(model)}"
        parts.append(group_table(title, groups["by_regime"], regime_labels(exposures)))
        parts.append(
            group_table(f"Results per confidence of the model on {html.escape(model)}", groups["by_confidence"], str)
        )
    return "".join(parts)


def book_sections(metrics: dict[str, Any], held_exposure: float, exposures: Exposures = None) -> str:
    """The book's comparison, chance tests, per-symbol table and per-model results, for a run or a part of it."""
    evaluation = metrics["evaluation"]
    return (
        comparison_table(metrics["strategy"], evaluation, held_exposure=held_exposure)
        + "<p class='note'>For a portfolio each baseline gives every symbol a sleeve of the starting cash at its "
        "weight, trades the sleeves apart and adds them up; the rest of the cash stays idle, as in the book. "
        "Random entry reshuffles each symbol's own holding periods.</p>"
        + chance_section(evaluation)
        + symbol_table(metrics["symbols"])
        + _model_sections(evaluation, exposures)
    )


def _holdout_sections(holdout: dict[str, Any] | None, held_exposure: float, exposures: Exposures) -> str:
    return holdout_sections(holdout, lambda part: book_sections(part, held_exposure, exposures))


def render_portfolio(result: BacktestResult, config: EngineConfig, *, title: str) -> str:
    from ui import format as fmt  # not at import: the bot image, which ships trader/, has no ui/ nor bokeh

    records, metrics = result.records, result.metrics
    dates = [r["bar"]["date"] for r in records]
    equity = [r["equity"] for r in records]
    held_exposure = sum(config.weight(s) for s in config.universe)
    exposures = report_exposures(config)
    ribbons = "".join(
        regime_ribbon(
            model,
            [s for s in config.universe if config.model_of(s) == model],
            [r["models"][model]["regime"] for r in records],
            exposures,
        )
        for model in config.model_symbols
    )
    holdout = metrics.get("holdout")
    heading = "<h2>Whole run (in sample and holdout)</h2>" if holdout and holdout["revealed"] else ""
    dropped = {s: n for s, n in metrics.get("dropped_bars", {}).items() if n}
    dropped_note = (
        "<p class='note'>Bars on dates another symbol lacks were left out: "
        + ", ".join(f"{html.escape(s)} {fmt.count(n)}" for s, n in dropped.items())
        + ".</p>"
        if dropped
        else ""
    )
    scope = (
        f"one model on {config.model_symbols[0]} sets every symbol's exposure"
        if config.scope == "reference"
        else "a model per symbol"
    )
    summary = f"{summary_line(metrics)}; {len(config.universe)} symbols ({', '.join(config.universe)}), {scope}"
    sections = [
        heading,
        book_sections(metrics, held_exposure, exposures),
        dropped_note,
        _holdout_sections(holdout, held_exposure, exposures),
        equity_chart(dates, equity, held_weights(records, config)),
        drawdown_chart(dates, equity),
        ribbons,
    ]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}"
        f"<title>{html.escape(title)} - backtest</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>{''.join(sections)}</body></html>\n"
    )


def write_portfolio_report(path: Path, result: BacktestResult, config: EngineConfig, *, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_portfolio(result, config, title=title), encoding="utf-8")
