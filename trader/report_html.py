"""``report.html``: one self-contained page (inline SVG and CSS, no script, no CDN).

Price with regime shading, the filtered state probabilities stacked, equity against
buy-and-hold, drawdown, the last model's transition matrix, and the metrics with the
evaluation (``trader.evaluation_html``): baselines, chance tests, results per regime.

Every number a trader reads goes through ``ui.format`` and every regime is named and coloured by
``ui.regimes`` (by the exposure the profile gives it: "Risk-off · 0%"), as on the dashboards. Both
are imported inside the functions: the bot image ships ``trader/`` without ``ui/`` nor bokeh, and a
hosted bot never writes a report.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.backtest import BacktestResult
from trader.breakdown import NO_REGIME
from trader.engine import EngineConfig
from trader.evaluation_html import evaluation_sections, holdout_sections, regime_label
from trader.report_stops import NOTES_SHOWN, STOP_COLOUR, Stop, risk_stops, stop_notes

WIDTH, HEIGHT, PAD = 960, 220, 60
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:24px auto;padding:0 12px;max-width:1000px;color:#222}"
    # a wide table scrolls inside itself on a phone instead of widening the page
    "table{display:block;max-width:100%;overflow-x:auto}"
    "table{border-collapse:collapse;margin:12px 0}th,td{padding:4px 10px;border-bottom:1px solid #ddd;"
    "text-align:right}svg{width:100%;height:auto;font-size:11px;fill:#555}figure{margin:18px 0}"
    "figcaption{font-weight:600;margin-bottom:4px}.matrix td{color:#000}.note{color:#666;font-size:12px}"
    "tr th:first-child{white-space:nowrap}.legend span{margin-right:12px;white-space:nowrap}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}"
)
METRIC_ROWS = (  # the console summary's rows (``stack/backtest_cmd.py``); the page uses ``evaluation_html``
    ("CAGR", "cagr", "{:.2%}"),
    ("Annual volatility", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("Max drawdown", "max_drawdown", "{:.2%}"),
    ("Calmar", "calmar", "{:.2f}"),
)
VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"  # phones: no 980 px page
Exposures = Sequence[float] | None  # per regime, in regime order; None names them "Regime k"
Label = Callable[[float], str]


def report_exposures(config: EngineConfig) -> list[float] | None:
    """The exposures the report names regimes by; none when the number of regimes changes per refit."""
    return None if config.fit.auto_states else list(config.strategy.exposure_per_regime)


def x_at(i: int, n: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (i / max(1, n - 1))


def y_at(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - PAD / 2 - (HEIGHT - PAD) * (value - low) / span


def points(values: Sequence[float], low: float, high: float) -> str:
    n = len(values)
    return " ".join(f"{x_at(i, n):.1f},{y_at(v, low, high):.1f}" for i, v in enumerate(values))


def frame(dates: Sequence[str], low: float, high: float, label: Label) -> str:
    """Axes: the value range on the left (written by ``label``), the first bar of each year along the bottom."""
    n = len(dates)
    parts = [
        f'<text x="{PAD - 4}" y="{y_at(high, low, high) + 4:.1f}" text-anchor="end">{html.escape(label(high))}</text>',
        f'<text x="{PAD - 4}" y="{y_at(low, low, high):.1f}" text-anchor="end">{html.escape(label(low))}</text>',
    ]
    last_year = ""
    for i, day in enumerate(dates):
        year = day[:4]
        if year != last_year:
            last_year = year
            if int(year) % 2 == 0 or n < 800:
                parts.append(f'<text x="{x_at(i, n):.1f}" y="{HEIGHT - 4}" text-anchor="middle">{year}</text>')
    return "".join(parts)


def svg_figure(title: str, body: str) -> str:
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">{body}</svg></figure>'
    )


def money_label(value: float) -> str:
    from ui import format as fmt  # not at import: see the module docstring

    return fmt.money(value, 0)


def percent_label(value: float) -> str:
    from ui import format as fmt  # not at import: see the module docstring

    return fmt.pct(value, 0)


def price_label(value: float) -> str:
    from ui import format as fmt  # not at import: see the module docstring

    return fmt.price(value, 0 if abs(value) >= 100 else None)


def legend(regimes: Sequence[int], exposures: Exposures) -> str:
    """A swatch and the name of each regime, lowest exposure first; HTML, so it wraps on a phone."""
    from ui import regimes as names  # not at import: see the module docstring

    ordered = sorted(regimes, key=lambda k: (exposures[k], k)) if exposures is not None else sorted(regimes)
    items = "".join(
        f"<span><i style='background:{names.regime_color(k, exposures)}'></i>"
        f"{html.escape(names.regime_name(k, exposures))}</span>"
        for k in ordered
    )
    return f"<div class='note legend'>{items}</div>"


def regime_bands(regimes: Sequence[int | None], n: int, exposures: Exposures = None) -> str:
    from ui import regimes as names  # not at import: see the module docstring

    bands, start = [], 0
    for i in range(1, n + 1):
        if i == n or regimes[i] != regimes[start]:
            regime = regimes[start]
            if regime is not None:
                x0, x1 = x_at(start, n), x_at(i - 1, n) + (WIDTH - 2 * PAD) / max(1, n - 1)
                colour = names.regime_color(regime, exposures)
                bands.append(
                    f'<rect x="{x0:.1f}" y="{PAD / 2}" width="{max(0.5, x1 - x0):.1f}" height="{HEIGHT - PAD}" '
                    f'fill="{colour}" opacity="0.18"/>'
                )
            start = i
    return "".join(bands)


def _price_chart(dates: list[str], closes: list[float], regimes: list[int | None], exposures: Exposures) -> str:
    low, high = min(closes), max(closes)
    line = f'<polyline fill="none" stroke="#222" stroke-width="1" points="{points(closes, low, high)}"/>'
    figure = svg_figure(
        "Price, shaded by the regime the bot acted on",
        regime_bands(regimes, len(closes), exposures) + line + frame(dates, low, high, price_label),
    )
    shown = {r for r in regimes if r is not None}
    return figure.replace("</figure>", legend(sorted(shown), exposures) + "</figure>") if shown else figure


def _probability_chart(dates: list[str], probabilities: NDArray[np.float64], exposures: Exposures) -> str:
    """The filtered probabilities stacked, the lowest exposure at the bottom, coloured as the regimes."""
    from ui import regimes as names  # not at import: see the module docstring

    n, k = probabilities.shape
    fits = exposures is not None and len(exposures) == k
    named = exposures if fits else None
    order = names.by_exposure(named, k)
    cumulative = np.cumsum(probabilities[:, order], axis=1)
    layers = []
    for position, state in enumerate(order):
        top = cumulative[:, position]
        bottom = cumulative[:, position - 1] if position else np.zeros(n)
        upper = points(list(top), 0, 1)
        lower = " ".join(reversed(points(list(bottom), 0, 1).split(" ")))  # back along the lower edge
        colour = names.regime_color(state, named)
        layers.append(f'<polygon fill="{colour}" opacity="0.75" points="{upper} {lower}"/>')
    title = "Filtered state probabilities (forward filter only)"
    figure = svg_figure(title, "".join(layers) + frame(dates, 0, 1, percent_label))
    return figure.replace("</figure>", legend(range(k), named) + "</figure>")


def stop_marks(stops: Sequence[Stop], dates: Sequence[str]) -> str:
    """A red line and label where the limits first held the bot flat, the kill switch first."""
    n = len(dates)
    marks = []
    for stop in sorted(stops, key=lambda s: (s.status != "killed", s.first))[:NOTES_SHOWN]:
        x = x_at(stop.first, n)
        anchor = "end" if x > WIDTH / 2 else "start"
        label_x = x - 4 if anchor == "end" else x + 4
        marks.append(
            f'<line class="risk-stop-mark" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD / 2}" y2="{HEIGHT - PAD / 2}" '
            f'stroke="{STOP_COLOUR}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{label_x:.1f}" y="{PAD / 2 + 12}" text-anchor="{anchor}" fill="{STOP_COLOUR}" '
            f'font-weight="700">{stop.status.upper()} {html.escape(dates[stop.first])}</text>'
        )
    return "".join(marks)


def _equity_chart(dates: list[str], equity: list[float], closes: list[float], marks: str = "") -> str:
    hold = [equity[0] * c / closes[0] for c in closes]
    low, high = min(min(equity), min(hold)), max(max(equity), max(hold))
    lines = (
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.4" points="{points(equity, low, high)}"/>'
        f'<polyline fill="none" stroke="#999" stroke-width="1" points="{points(hold, low, high)}"/>'
        f'<text x="{PAD + 6}" y="14" fill="#1f77b4">strategy</text>'
        f'<text x="{PAD + 76}" y="14" fill="#777">buy and hold</text>'
    )
    return svg_figure("Equity against buy-and-hold", lines + marks + frame(dates, low, high, money_label))


def drawdown_chart(dates: list[str], equity: list[float]) -> str:
    values = np.asarray(equity)
    drawdown = list(-(1 - values / np.maximum.accumulate(values)))
    low = min(drawdown) or -0.01
    area = points(drawdown, low, 0)
    n = len(drawdown)
    body = (
        f'<polygon fill="#d62728" opacity="0.5" points="{x_at(0, n):.1f},{y_at(0, low, 0):.1f} {area} '
        f'{x_at(n - 1, n):.1f},{y_at(0, low, 0):.1f}"/>'
    )
    return svg_figure("Drawdown of the strategy", body + frame(dates, low, 0, percent_label))


def _transition_table(transmat: Sequence[Sequence[float]], exposures: Exposures) -> str:
    """Each row: where the regime goes at the next bar, in percent."""
    from ui import format as fmt  # not at import: see the module docstring
    from ui import regimes as names

    named = exposures if exposures is not None and len(exposures) == len(transmat) else None
    head = "".join(f"<th>to {html.escape(names.regime_name(j, named))}</th>" for j in range(len(transmat)))
    rows = "".join(
        f"<tr><th>from {html.escape(names.regime_name(i, named))}</th>"
        + "".join(f'<td style="background: rgba(31,119,180,{p:.2f})">{html.escape(fmt.pct(p))}</td>' for p in row)
        + "</tr>"
        for i, row in enumerate(transmat)
    )
    return f'<table class="matrix"><tr><th></th>{head}</tr>{rows}</table>'


def time_per_regime(shares: dict[str, float], exposures: Exposures) -> str:
    """``Risk-off · 0%: 34.0%, Risk-on · 100%: 60.2%, No regime: 5.8%``, lowest exposure first."""
    from ui import format as fmt  # not at import: see the module docstring

    known = sorted((int(k) for k in shares if k != "None"), key=lambda k: (exposures[k], k) if exposures else k)
    parts = [f"{regime_label(str(k), exposures)}: {fmt.pct(shares[str(k)])}" for k in known]
    if "None" in shares:
        parts.append(f"{regime_label(NO_REGIME, exposures)}: {fmt.pct(shares['None'])}")
    return ", ".join(parts)


def _metrics_table(metrics: dict[str, Any], exposures: Exposures) -> str:
    strategy = metrics["strategy"]
    holdout = metrics.get("holdout")
    heading = "<h2>Whole run (in sample and holdout)</h2>" if holdout and holdout["revealed"] else ""
    shares = time_per_regime(strategy["regime_time_share"], exposures)
    return (
        heading
        + evaluation_sections(strategy, metrics["evaluation"], exposures)
        + f"<p>Time per regime: {html.escape(shares)}</p>"
    )


def summary_line(metrics: dict[str, Any]) -> str:
    """``2004-01-02 to 2024-12-31, 5,284 decisions, walk-forward``."""
    from ui import format as fmt  # not at import: see the module docstring

    return (
        f"{fmt.when_label(metrics['first_decision'])} to {fmt.when_label(metrics['last_decision'])}, "
        f"{fmt.count(metrics['bars'])} decisions, {metrics.get('mode', 'walk-forward')}"
    )


def render(result: BacktestResult, *, title: str, exposures: Exposures = None) -> str:
    """The page; ``exposures`` (per regime) names the regimes, as :func:`report_exposures` gives them."""
    records, metrics = result.records, result.metrics
    dates = [r["bar"]["date"] for r in records]
    closes = [r["bar"]["close"] for r in records]
    equity = [r["equity"] for r in records]
    regimes = [r["regime"] for r in records]
    probabilities = np.array([r["probabilities"] for r in records])
    last_model = next(reversed(result.models.values()))
    stops = risk_stops(records)
    sections = [
        _metrics_table(metrics, exposures),
        holdout_sections(metrics.get("holdout"), exposures=exposures),
        _price_chart(dates, closes, regimes, exposures),
        _probability_chart(dates, probabilities, exposures),
        _equity_chart(dates, equity, closes, stop_marks(stops, dates)),
        drawdown_chart(dates, equity),
        "<h2>Transition matrix of the last model</h2>",
        _transition_table(last_model.transmat.tolist(), exposures),
    ]
    summary = html.escape(summary_line(metrics))
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}"
        f"<title>{html.escape(title)} - backtest</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{summary}</p>{stop_notes(stops, dates)}{''.join(sections)}</body></html>\n"
    )


def write_report(path: Path, result: BacktestResult, *, title: str, exposures: Exposures = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title=title, exposures=exposures), encoding="utf-8")
