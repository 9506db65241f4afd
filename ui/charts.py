"""The HMM live charts of one bot, fed by ticks (the agent's bus) or audit records (the web app's API).

Four linked panels: the price, shaded by regime as merged spans from each bar to the next
(a run of days in one regime is one span, so weekends do not make a barcode); the filtered
regime probabilities, stacked from the lowest exposure up; equity on a dollar axis; drawdown
as its own panel on a percent axis. Regimes are named and coloured by :mod:`ui.regimes`, with
a legend on the shading and on the probabilities. A kill switch or halt is marked where it
happened, so a stopped bot never looks like a flat, healthy one.

Every bar is keyed by its ``seq``: a tick and the audit record of the same bar are one point,
and adding either twice draws it once. The web app has no tick history, so an audit record
alone is enough to draw its bar (``detail["bar"]["close"]`` and ``equity``). Bars arriving in
order are streamed to the browser; anything else (history loaded after live bars, a value
corrected) redraws the series from the kept bars.
"""

from __future__ import annotations

import html
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import panel as pn
from bokeh.models import BasicTicker, ColumnDataSource, DataRange1d, HoverTool, Range1d
from bokeh.models.annotations import Legend, LegendItem
from bokeh.plotting import figure

from contracts.events import AuditRecord, Tick
from ui import format as fmt
from ui.portfolio_record import chart_view, is_portfolio, symbols_table
from ui.regimes import NO_REGIME_COLOR, NO_REGIME_NAME, by_exposure, regime_color, regime_colors, regime_name
from ui.regimes import regime_names as _names

MAX_STATES = 6
HISTORY = 5_000
DAY_MS = 86_400_000.0
STOPPED = ("killed", "halted")
STOP_COLOR = "#b00020"
FEED_WORDS = {"replay": " (replay)", "live": " (live feed)"}  # after the symbol on the price chart


@dataclass
class _Bar:
    t: float  # bar start, epoch milliseconds (Bokeh's datetime unit)
    close: float | None = None
    regime: int | None = None
    equity: float | None = None
    probabilities: list[float] | None = None
    risk: str | None = None
    reason: str = ""
    kind: str = "decision"
    flagged: bool = field(default=False)  # a kind="risk" record: always marked


def _ms(record: Tick | AuditRecord) -> float:
    return record.bar_at.timestamp() * 1000


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def risk_of(record: AuditRecord) -> tuple[str | None, str]:
    """The risk verdict's status and first reason, as the trader wrote them."""
    risk = record.detail.get("risk")
    if not isinstance(risk, dict):
        return None, ""
    reasons = risk.get("reasons") or []
    return risk.get("status"), str(reasons[0]) if reasons else ""


def bar_close(record: AuditRecord) -> float | None:
    bar = record.detail.get("bar")
    close = bar.get("close") if isinstance(bar, dict) else None
    return float(close) if isinstance(close, int | float) else None


class RegimeCharts:
    """Price with regime shading, probabilities, equity and drawdown for one bot."""

    def __init__(
        self, exposures: Sequence[float] | None, symbol: str, *, history: int = HISTORY, feed: str | None = None
    ) -> None:
        """``feed``: ``replay`` or ``live`` when known, said on the price chart's title and axis."""
        self.exposures = list(exposures) if exposures is not None else None
        self.symbol = symbol
        self.history = history
        self.portfolio = False  # a portfolio's records seen: the chart draws ``symbol`` from them, not from ticks
        self.n_states = len(self.exposures) if self.exposures is not None else MAX_STATES
        self.names = _names(self.exposures, self.n_states)
        colors = regime_colors(self.exposures, self.n_states)
        self._bars: dict[int, _Bar] = {}
        self._drawn: dict[int, tuple[float, float | None, float | None]] = {}
        self._drawn_probs: set[int] = set()
        self._peak = 0.0

        self.bars = ColumnDataSource({"t": [], "close": [], "equity": [], "drawdown": [], "regime": []})
        self.probs = ColumnDataSource({"t": [], **{f"p{k}": [] for k in range(self.n_states)}})
        self.spans = {k: ColumnDataSource({"left": [], "right": []}) for k in [*range(self.n_states), None]}
        self.stops = ColumnDataSource({"t": [], "y_price": [], "y_equity": [], "label": []})

        price_range = DataRange1d()  # fitted to the price line, not to the 0..1 shading
        self.price_fig = figure(
            height=260,
            x_axis_type="datetime",
            y_range=price_range,
            title=f"{symbol}{FEED_WORDS.get(feed or '', '')}: price, shaded by regime",
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset,save",
        )
        self.price_fig.yaxis.axis_label = f"{symbol}{FEED_WORDS.get(feed or '', '')}"
        fmt.price_axis(self.price_fig.yaxis)
        self.price_fig.extra_y_ranges = {"shade": Range1d(start=0, end=1)}
        items = []
        order = [*by_exposure(self.exposures, self.n_states), None]
        for k in order:
            quad: Any = self.price_fig.quad(
                left="left",
                right="right",
                bottom=0,
                top=1,
                source=self.spans[k],
                y_range_name="shade",
                fill_color=NO_REGIME_COLOR if k is None else colors[k],
                fill_alpha=0.22,
                line_color=None,
            )
            label = NO_REGIME_NAME if k is None else self.names[k]
            items.append(LegendItem(label=label, renderers=[quad], visible=k is not None and exposures is not None))
        self._legend_items = dict(zip(order, items, strict=True))
        price_line = self.price_fig.line("t", "close", source=self.bars, color="#111111", line_width=1.5)
        price_range.renderers = [price_line]
        self.price_fig.add_tools(
            HoverTool(
                renderers=[price_line],
                tooltips=[("bar", "@t{%F}"), ("close", "@close{0,0.00}"), ("regime", "@regime")],
                formatters={"@t": "datetime"},
                mode="vline",
            )
        )
        self._legend(self.price_fig, items)

        self.prob_fig = figure(
            height=210,
            x_axis_type="datetime",
            x_range=self.price_fig.x_range,
            y_range=Range1d(start=0, end=1),
            title="Filtered regime probabilities",
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset,save",
        )
        fmt.percent_axis(self.prob_fig.yaxis)
        self.prob_fig.yaxis.ticker = [0, 0.5, 1]
        stack = by_exposure(self.exposures, self.n_states)
        areas: list[Any] = self.prob_fig.varea_stack(
            [f"p{k}" for k in stack], x="t", color=[colors[k] for k in stack], alpha=0.8, source=self.probs
        )
        self._legend(
            self.prob_fig, [LegendItem(label=self.names[k], renderers=[a]) for k, a in zip(stack, areas, strict=True)]
        )

        equity_range = DataRange1d()
        self.equity_fig = figure(
            height=180,
            x_axis_type="datetime",
            x_range=self.price_fig.x_range,
            y_range=equity_range,
            title="Equity",
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset,save",
        )
        fmt.money_axis(self.equity_fig.yaxis)
        equity_line = self.equity_fig.line("t", "equity", source=self.bars, color="#1f4e79", line_width=1.5)
        equity_range.renderers = [equity_line]
        self.equity_fig.add_tools(
            HoverTool(
                renderers=[equity_line],
                tooltips=[("bar", "@t{%F}"), ("equity", "@equity{$0,0.00}"), ("drawdown", "@drawdown{0.0%}")],
                formatters={"@t": "datetime"},
                mode="vline",
            )
        )

        self.drawdown_fig = figure(
            height=160,
            x_axis_type="datetime",
            x_range=self.price_fig.x_range,
            y_range=DataRange1d(end=0),
            title="Drawdown from the equity peak",
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset,save",
        )
        fmt.percent_axis(self.drawdown_fig.yaxis)
        self.drawdown_fig.yaxis.ticker = BasicTicker(desired_num_ticks=4)
        self.drawdown_fig.toolbar.logo = None
        self.equity_fig.toolbar.logo = None
        self.drawdown_fig.varea(x="t", y1=0, y2="drawdown", source=self.bars, color=STOP_COLOR, alpha=0.35)

        for fig, y in ((self.price_fig, "y_price"), (self.equity_fig, "y_equity")):
            marks = fig.scatter(
                "t", y, source=self.stops, marker="inverted_triangle", size=14, color=STOP_COLOR, line_color="black"
            )
            fig.text("t", y, text="label", source=self.stops, text_font_size="11px", text_color=STOP_COLOR,
                     x_offset=8, y_offset=-4)  # fmt: skip
            fig.add_tools(HoverTool(renderers=[marks], tooltips=[("", "@label")]))

        self.empty = pn.pane.HTML(
            "<p>No bars yet: the charts fill in as the bot decides, after its first model fit.</p>",
            css_classes=["charts-empty"],
        )
        self.panel = pn.Column(
            self.empty,
            *(pn.pane.Bokeh(f, sizing_mode="stretch_width")
              for f in (self.price_fig, self.prob_fig, self.equity_fig, self.drawdown_fig)),
            sizing_mode="stretch_width",
        )  # fmt: skip

    @staticmethod
    def _legend(fig: Any, items: list[LegendItem]) -> None:
        legend: Any = Legend(
            items=items,
            orientation="horizontal",
            ncols=2,  # one row of regime names ran past a 390 px phone screen; two columns fit
            click_policy="hide",
            label_text_font_size="11px",
            location="top_left",
            margin=2,
            spacing=8,
            border_line_color=None,
        )
        legend.padding = 2  # after construction: Bokeh's stubs refuse the int its constructor accepts
        fig.add_layout(legend, "above")
        fig.toolbar.logo = None

    # --- feeding -------------------------------------------------------------------------

    def add_ticks(self, ticks: Sequence[Tick]) -> None:
        """Draw bars from live ticks (close, regime, equity)."""
        for tick in ticks:
            bar = self._bar(tick.seq, _ms(tick))
            if not self.portfolio:  # a portfolio's tick carries one price; the record names whose
                bar.close, bar.regime = tick.close, tick.regime
            if tick.equity is not None:
                bar.equity = tick.equity
        self._redraw()

    def add_audit(self, records: Sequence[AuditRecord]) -> None:
        """Draw probabilities and risk stops from audit records, and their bars if no tick drew them.

        A portfolio's record is drawn as ``symbol``'s price under the regime of the model it follows,
        with the book's equity (:func:`ui.portfolio_record.chart_view`)."""
        for record in records:
            if is_portfolio(record.detail):
                self.portfolio = True
                record = chart_view(record, self.symbol)
            bar = self._bar(record.seq, _ms(record))
            close = bar_close(record)
            if close is not None:
                bar.close = close
            if record.equity is not None:
                bar.equity = record.equity
            bar.regime = record.regime if record.regime is not None else bar.regime
            if record.probabilities:
                bar.probabilities = list(record.probabilities)
            bar.risk, bar.reason = risk_of(record)
            bar.kind = record.kind
            bar.flagged = record.kind == "risk"
        self._redraw()

    def reset(self) -> None:
        """Forget every bar (another bot was chosen)."""
        self._bars.clear()
        self._drawn.clear()
        self._drawn_probs.clear()
        self._peak = 0.0
        self.bars.data = {k: [] for k in self.bars.data}
        self.probs.data = {k: [] for k in self.probs.data}
        self._draw_spans_and_stops([])

    def _bar(self, seq: int, t: float) -> _Bar:
        bar = self._bars.get(seq)
        if bar is None:
            bar = self._bars[seq] = _Bar(t=t)
        return bar

    # --- drawing -------------------------------------------------------------------------

    def _redraw(self) -> None:
        if len(self._bars) > self.history:
            for seq in sorted(self._bars)[: len(self._bars) - self.history]:
                del self._bars[seq]
        ordered = [(seq, self._bars[seq]) for seq in sorted(self._bars)]
        plotted = [(s, b) for s, b in ordered if b.close is not None or b.equity is not None]
        self._draw_bars(plotted)
        self._draw_probs([(s, b) for s, b in ordered if b.probabilities])
        self._draw_spans_and_stops([b for _, b in ordered])
        self.empty.visible = not plotted

    def _bar_rows(self, bars: list[tuple[int, _Bar]], peak: float) -> tuple[dict[str, list[Any]], float]:
        rows: dict[str, list[Any]] = {k: [] for k in ("t", "close", "equity", "drawdown", "regime")}
        for _, bar in bars:
            if bar.equity is not None:
                peak = max(peak, bar.equity)
            drawdown = bar.equity / peak - 1 if bar.equity is not None and peak > 0 else float("nan")
            rows["t"].append(bar.t)
            rows["close"].append(_nan(bar.close))
            rows["equity"].append(_nan(bar.equity))
            rows["drawdown"].append(drawdown)
            rows["regime"].append(regime_name(bar.regime, self.exposures))
        return rows, peak

    @staticmethod
    def _appendable(drawn: Sequence[int], seqs: Sequence[int], new: Sequence[int]) -> bool:
        """Whether going from ``drawn`` to ``seqs`` only appends ``new`` and drops the oldest rows."""
        last = max(drawn, default=0)
        kept = set(seqs)
        first = seqs[0] if seqs else 0
        return all(s > last for s in new) and all(s < first for s in drawn if s not in kept)

    def _draw_bars(self, plotted: list[tuple[int, _Bar]]) -> None:
        new = [(s, b) for s, b in plotted if s not in self._drawn]
        changed = any(s in self._drawn and self._drawn[s] != (b.t, b.close, b.equity) for s, b in plotted)
        if not new and not changed and len(self._drawn) == len(plotted):
            return
        seqs = [s for s, _ in plotted]
        if not changed and self._appendable(list(self._drawn), seqs, [s for s, _ in new]):
            rows, self._peak = self._bar_rows(new, self._peak)
            self.bars.stream(rows, rollover=len(plotted))  # type: ignore[arg-type]
        else:
            rows, self._peak = self._bar_rows(plotted, 0.0)
            self.bars.data = rows
        self._drawn = {s: (b.t, b.close, b.equity) for s, b in plotted}

    def _draw_probs(self, with_probs: list[tuple[int, _Bar]]) -> None:
        seqs = [s for s, _ in with_probs]
        new = [(s, b) for s, b in with_probs if s not in self._drawn_probs]
        if not new and len(seqs) == len(self._drawn_probs):
            return
        in_order = self._appendable(sorted(self._drawn_probs), seqs, [s for s, _ in new])
        rows: dict[str, list[Any]] = {k: [] for k in self.probs.data}
        for _, bar in new if in_order else with_probs:
            probs = list(bar.probabilities or [])[: self.n_states]
            probs += [0.0] * (self.n_states - len(probs))
            rows["t"].append(bar.t)
            for k, p in enumerate(probs):
                rows[f"p{k}"].append(p)
        if in_order:
            self.probs.stream(rows, rollover=len(seqs))  # type: ignore[arg-type]
        else:
            self.probs.data = rows
        self._drawn_probs = set(seqs)

    def _draw_spans_and_stops(self, bars: list[_Bar]) -> None:
        timed = sorted(bars, key=lambda b: b.t)
        spans: dict[int | None, dict[str, list[float]]] = {k: {"left": [], "right": []} for k in self.spans}
        if timed:
            gaps = [b.t - a.t for a, b in itertools.pairwise(timed) if b.t > a.t]
            step = statistics.median(gaps) if gaps else DAY_MS
            start = timed[0]
            for prev, bar in zip(timed, [*timed[1:], None], strict=True):
                if bar is not None and bar.regime == start.regime:
                    continue
                key = start.regime if start.regime in self.spans else None
                spans[key]["left"].append(start.t)
                spans[key]["right"].append(bar.t if bar is not None else prev.t + step)
                if bar is not None:
                    start = bar
        for key, source in self.spans.items():
            source.data = spans[key]
            item = self._legend_items[key]
            item.visible = bool(spans[key]["left"]) or (key is not None and self.exposures is not None)
        self.stops.data = self._stop_rows(timed)

    @staticmethod
    def _stop_rows(timed: list[_Bar]) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {"t": [], "y_price": [], "y_equity": [], "label": []}
        previous, close, equity = None, float("nan"), float("nan")
        for bar in timed:
            close = close if bar.close is None else bar.close
            equity = equity if bar.equity is None else bar.equity
            stopped = bar.risk in STOPPED and bar.risk != previous
            if stopped or bar.flagged:
                what = bar.risk if bar.risk in STOPPED else "risk"
                rows["t"].append(bar.t)
                rows["y_price"].append(close)
                rows["y_equity"].append(equity)
                rows["label"].append(f"{what}: {bar.reason}" if bar.reason else str(what))
            if bar.risk is not None:
                previous = bar.risk
        return rows


def now_line(
    tick: Tick | None,
    record: AuditRecord | None,
    exposures: Sequence[float] | None,
    symbols: Sequence[str] | None = None,
) -> str:
    """One line of HTML saying where the bot stands: regime by name with confidence, price, equity, position.

    Either source may be missing: the agent has both, the web app only audit records. A killed
    or halted bot says so first, with the reason.
    """
    if tick is None and record is None:
        return '<span id="last-tick" data-seq="0">Waiting for the first bar…</span>'
    if record is not None and is_portfolio(record.detail):
        return book_line(record, exposures, symbols)
    detail = record.detail if record is not None else {}
    seq = tick.seq if tick is not None else record.seq if record is not None else 0
    bar_at = tick.bar_at if tick is not None else record.bar_at if record is not None else None
    regime = tick.regime if tick is not None else record.regime if record is not None else None
    confidence = tick.confidence if tick is not None else detail.get("confidence")
    close = tick.close if tick is not None else bar_close(record) if record is not None else None
    equity = tick.equity if tick is not None and tick.equity is not None else (record.equity if record else None)
    position = detail.get("position")
    parts = [
        f'<span id="last-tick" data-seq="{seq}">bar {html.escape(fmt.bar_label(bar_at))}</span>',
        f'regime <b class="live-regime" style="color:{regime_color(regime, exposures)}">'
        f"{html.escape(regime_name(regime, exposures))}</b>"
        f" ({fmt.pct(confidence if isinstance(confidence, int | float) else None)} confident)",
        f"close {fmt.price(close)}",
        f"equity <b>{fmt.money(equity)}</b>",
    ]
    if isinstance(position, int | float):
        held = f"position {fmt.quantity(position)}"
        if close and equity:
            held += f" ({fmt.pct(position * close / equity)} of equity)"
        parts.append(held)
    status, reason = risk_of(record) if record is not None else (None, "")
    if status in STOPPED:
        parts.insert(
            0,
            f'<b class="live-risk" data-risk="{status}" style="color:{STOP_COLOR}">'
            f"{html.escape(status.upper())}{': ' + html.escape(reason) if reason else ''}</b>",
        )
    return " · ".join(parts)


def book_line(record: AuditRecord, exposures: Sequence[float] | None, symbols: Sequence[str] | None = None) -> str:
    """Where a portfolio stands: the book (equity, cash, risk) in one line, then a row per symbol with
    its weight, regime, target and position. Read from the record alone: a portfolio's tick is one
    price and cannot say which symbol's."""
    detail = record.detail
    cash = detail.get("cash")
    parts = [
        f'<span id="last-tick" data-seq="{record.seq}">bar {html.escape(fmt.bar_label(record.bar_at))}</span>',
        f"portfolio of {len(detail.get('symbols') or {})} symbols",
        f"equity <b>{fmt.money(record.equity)}</b>",
        f"cash {fmt.money(cash if isinstance(cash, int | float) else None)}",
    ]
    status, reason = risk_of(record)
    if status in STOPPED:
        parts.insert(
            0,
            f'<b class="live-risk" data-risk="{status}" style="color:{STOP_COLOR}">'
            f"{html.escape(status.upper())}{': ' + html.escape(reason) if reason else ''}</b>",
        )
    return " · ".join(parts) + symbols_table(detail, exposures, symbols)
