"""``report.html``: one self-contained page (inline SVG and CSS, no script, no CDN).

Price with regime shading, the filtered state probabilities stacked, equity against
buy-and-hold, drawdown, the last model's transition matrix, and the metrics with the
evaluation (``trader.evaluation_html``): baselines, chance tests, results per regime.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trader.backtest import BacktestResult
from trader.evaluation_html import evaluation_sections, holdout_sections
from trader.report_stops import NOTES_SHOWN, STOP_COLOUR, Stop, risk_stops, stop_notes

WIDTH, HEIGHT, PAD = 960, 220, 60
REGIME_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#17becf", "#1f77b4")
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}"
    "table{border-collapse:collapse;margin:12px 0}th,td{padding:4px 10px;border-bottom:1px solid #ddd;"
    "text-align:right}svg{width:100%;height:auto;font-size:11px;fill:#555}figure{margin:18px 0}"
    "figcaption{font-weight:600;margin-bottom:4px}.matrix td{color:#000}.note{color:#666;font-size:12px}"
    "tr th:first-child{white-space:nowrap}"
)
METRIC_ROWS = (
    ("CAGR", "cagr", "{:.2%}"),
    ("Annual volatility", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.2f}"),
    ("Sortino", "sortino", "{:.2f}"),
    ("Max drawdown", "max_drawdown", "{:.2%}"),
    ("Calmar", "calmar", "{:.2f}"),
)


def x_at(i: int, n: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (i / max(1, n - 1))


def y_at(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - PAD / 2 - (HEIGHT - PAD) * (value - low) / span


def points(values: Sequence[float], low: float, high: float) -> str:
    n = len(values)
    return " ".join(f"{x_at(i, n):.1f},{y_at(v, low, high):.1f}" for i, v in enumerate(values))


def frame(dates: Sequence[str], low: float, high: float, fmt: str) -> str:
    """Axes: the value range on the left, the first bar of each year along the bottom."""
    n = len(dates)
    parts = [
        f'<text x="{PAD - 4}" y="{y_at(high, low, high) + 4:.1f}" text-anchor="end">{fmt.format(high)}</text>',
        f'<text x="{PAD - 4}" y="{y_at(low, low, high):.1f}" text-anchor="end">{fmt.format(low)}</text>',
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


def regime_bands(regimes: Sequence[int | None], n: int) -> str:
    bands, start = [], 0
    for i in range(1, n + 1):
        if i == n or regimes[i] != regimes[start]:
            regime = regimes[start]
            if regime is not None:
                x0, x1 = x_at(start, n), x_at(i - 1, n) + (WIDTH - 2 * PAD) / max(1, n - 1)
                colour = REGIME_COLOURS[regime % len(REGIME_COLOURS)]
                bands.append(
                    f'<rect x="{x0:.1f}" y="{PAD / 2}" width="{max(0.5, x1 - x0):.1f}" height="{HEIGHT - PAD}" '
                    f'fill="{colour}" opacity="0.18"/>'
                )
            start = i
    return "".join(bands)


def _price_chart(dates: list[str], closes: list[float], regimes: list[int | None]) -> str:
    low, high = min(closes), max(closes)
    line = f'<polyline fill="none" stroke="#222" stroke-width="1" points="{points(closes, low, high)}"/>'
    return svg_figure(
        "Price, shaded by the regime the bot acted on",
        regime_bands(regimes, len(closes)) + line + frame(dates, low, high, "{:,.0f}"),
    )


def _probability_chart(dates: list[str], probabilities: NDArray[np.float64]) -> str:
    n, k = probabilities.shape
    cumulative = np.cumsum(probabilities, axis=1)
    layers = []
    for state in range(k):
        top = cumulative[:, state]
        bottom = cumulative[:, state - 1] if state else np.zeros(n)
        upper = points(list(top), 0, 1)
        lower = " ".join(reversed(points(list(bottom), 0, 1).split(" ")))  # back along the lower edge
        colour = REGIME_COLOURS[state % len(REGIME_COLOURS)]
        layers.append(f'<polygon fill="{colour}" opacity="0.75" points="{upper} {lower}"/>')
    legend = "".join(
        f'<text x="{WIDTH - PAD - 70 * (k - s)}" y="14" fill="{REGIME_COLOURS[s % len(REGIME_COLOURS)]}">'
        f"state {s}</text>"
        for s in range(k)
    )
    title = "Filtered state probabilities (forward filter only)"
    return svg_figure(title, "".join(layers) + legend + frame(dates, 0, 1, "{:.0%}"))


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
    return svg_figure("Equity against buy-and-hold", lines + marks + frame(dates, low, high, "{:,.0f}"))


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
    return svg_figure("Drawdown of the strategy", body + frame(dates, low, 0, "{:.0%}"))


def _transition_table(transmat: Sequence[Sequence[float]]) -> str:
    head = "".join(f"<th>to {j}</th>" for j in range(len(transmat)))
    rows = "".join(
        f"<tr><th>from {i}</th>"
        + "".join(f'<td style="background: rgba(31,119,180,{p:.2f})">{p:.3f}</td>' for p in row)
        + "</tr>"
        for i, row in enumerate(transmat)
    )
    return f'<table class="matrix"><tr><th></th>{head}</tr>{rows}</table>'


def _metrics_table(metrics: dict[str, Any]) -> str:
    strategy = metrics["strategy"]
    shares = ", ".join(
        f"{'no regime yet' if k == 'None' else f'regime {k}'}: {v:.0%}"
        for k, v in sorted(strategy["regime_time_share"].items())
    )
    holdout = metrics.get("holdout")
    heading = "<h2>Whole run (in sample and holdout)</h2>" if holdout and holdout["revealed"] else ""
    return (
        heading
        + evaluation_sections(strategy, metrics["evaluation"])
        + f"<p>Time per regime: {html.escape(shares)}</p>"
    )


def render(result: BacktestResult, *, title: str) -> str:
    records, metrics = result.records, result.metrics
    dates = [r["bar"]["date"] for r in records]
    closes = [r["bar"]["close"] for r in records]
    equity = [r["equity"] for r in records]
    regimes = [r["regime"] for r in records]
    probabilities = np.array([r["probabilities"] for r in records])
    last_model = next(reversed(result.models.values()))
    stops = risk_stops(records)
    sections = [
        _metrics_table(metrics),
        holdout_sections(metrics.get("holdout")),
        _price_chart(dates, closes, regimes),
        _probability_chart(dates, probabilities),
        _equity_chart(dates, equity, closes, stop_marks(stops, dates)),
        drawdown_chart(dates, equity),
        "<h2>Transition matrix of the last model</h2>",
        _transition_table(last_model.transmat.tolist()),
    ]
    summary = (
        f"{html.escape(metrics['first_decision'])} to {html.escape(metrics['last_decision'])}, "
        f"{metrics['bars']} decisions, {html.escape(str(metrics.get('mode', 'walk-forward')))}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - backtest</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{summary}</p>{stop_notes(stops, dates)}{''.join(sections)}</body></html>\n"
    )


def write_report(path: Path, result: BacktestResult, *, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title=title), encoding="utf-8")
