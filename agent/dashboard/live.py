"""HMM live detection for one bot: price with regime shading, stacked filtered probabilities,
regime and confidence now, equity and drawdown, the position; pushed from the bus as it ticks."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, Range1d
from bokeh.plotting import figure

from agent.dashboard.common import REGIME_COLORS, page, push_on_change, query_arg, regime_color
from agent.dashboard.context import AgentContext
from agent.instances import list_instances
from contracts.events import AuditRecord, Tick

DAY_MS = 86_400_000
MAX_STATES = len(REGIME_COLORS)


def tick_row(tick: Tick) -> dict[str, list[Any]]:
    return {
        "t": [tick.bar_at],
        "close": [tick.close],
        "regime": [-1 if tick.regime is None else tick.regime],
        "color": [regime_color(tick.regime)],
        "equity": [tick.equity if tick.equity is not None else float("nan")],
    }


def prob_row(record: AuditRecord) -> dict[str, list[Any]]:
    probs = list(record.probabilities) + [0.0] * (MAX_STATES - len(record.probabilities))
    return {"t": [record.bar_at], **{f"p{k}": [probs[k]] for k in range(MAX_STATES)}}


def live_page(ctx: AgentContext) -> pn.Column:
    instances, _ = list_instances(ctx.home)
    names = {f"{i.profile.basics.name} ({i.bot_id[:8]})": i.bot_id for i in instances}
    for bot_id in ctx.live.bots:  # bots on the bus that have no local file (e.g. run by hand)
        names.setdefault(bot_id, bot_id)
    chosen = query_arg("bot")
    initial = chosen if chosen in names.values() else next(iter(names.values()), None)
    if chosen and chosen not in names.values():
        names[chosen] = initial = chosen
    select = pn.widgets.Select(name="Bot", options=names, value=initial, width=420)

    prices = ColumnDataSource({"t": [], "close": [], "regime": [], "color": [], "equity": []})
    probs = ColumnDataSource({"t": [], **{f"p{k}": [] for k in range(MAX_STATES)}})
    dd = ColumnDataSource({"t": [], "drawdown": []})

    price_range, equity_range = DataRange1d(), DataRange1d()  # fitted to the lines, not the shading
    price_fig = figure(
        height=260,
        y_range=price_range,
        x_axis_type="datetime",
        title="Price, shaded by regime",
        sizing_mode="stretch_width",
    )
    price_fig.extra_y_ranges = {"shade": Range1d(start=0, end=1)}
    price_fig.vbar(
        x="t",
        top=1,
        bottom=0,
        width=DAY_MS,
        fill_color="color",
        line_color=None,
        alpha=0.25,
        source=prices,
        y_range_name="shade",
    )
    price_range.renderers = [price_fig.line("t", "close", source=prices, color="black")]
    prob_fig = figure(
        height=180,
        x_axis_type="datetime",
        title="Filtered state probabilities",
        sizing_mode="stretch_width",
        x_range=price_fig.x_range,
        y_range=Range1d(start=0, end=1),
    )
    prob_fig.varea_stack([f"p{k}" for k in range(MAX_STATES)], x="t", color=list(REGIME_COLORS), source=probs)
    eq_fig = figure(
        height=180,
        x_axis_type="datetime",
        title="Equity (line) and drawdown % (red)",
        sizing_mode="stretch_width",
        x_range=price_fig.x_range,
        y_range=equity_range,
    )
    equity_range.renderers = [eq_fig.line("t", "equity", source=prices, color="#1f4e79")]
    eq_fig.extra_y_ranges = {"dd": Range1d(start=-50, end=0)}
    eq_fig.varea(x="t", y1=0, y2="drawdown", source=dd, color="#d62728", alpha=0.3, y_range_name="dd")

    now = pn.pane.HTML("", css_classes=["live-now"], sizing_mode="stretch_width")
    state = {"tick_seq": 0, "audit_seq": 0, "peak": 0.0}

    def reset() -> None:
        prices.data = {k: [] for k in prices.data}
        probs.data = {k: [] for k in probs.data}
        dd.data = {"t": [], "drawdown": []}
        state.update(tick_seq=0, audit_seq=0, peak=0.0)

    def refresh() -> None:
        bot_id = select.value
        live = ctx.live.bots.get(bot_id) if bot_id else None
        if live is None:
            now.object = '<span id="last-tick" data-seq="0">waiting for the first tick…</span>'
            return
        new_ticks = [t for t in live.ticks if t.seq > state["tick_seq"]]
        if new_ticks:
            rows: dict[str, Any] = {k: [] for k in prices.data}
            drawdown: dict[str, Any] = {"t": [], "drawdown": []}
            for tick in new_ticks:
                for key, value in tick_row(tick).items():
                    rows[key] += value
                if tick.equity is not None:
                    state["peak"] = max(state["peak"], tick.equity)
                    drawdown["t"].append(tick.bar_at)
                    drawdown["drawdown"].append(100 * (tick.equity / state["peak"] - 1) if state["peak"] else 0.0)
            prices.stream(rows, rollover=5_000)
            dd.stream(drawdown, rollover=5_000)
            state["tick_seq"] = new_ticks[-1].seq
        new_audit = [r for r in live.audit if r.seq > state["audit_seq"]]
        if new_audit:
            rows = {k: [] for k in probs.data}
            for record in new_audit:
                for key, value in prob_row(record).items():
                    rows[key] += value
            probs.stream(rows, rollover=5_000)
            state["audit_seq"] = new_audit[-1].seq
        last = live.ticks[-1] if live.ticks else None
        detail = live.audit[-1].detail if live.audit else {}
        if last is not None:
            regime = "–" if last.regime is None else str(last.regime)
            conf = "–" if last.confidence is None else f"{last.confidence:.2f}"
            position = f"{detail['position']:,.2f}" if isinstance(detail.get("position"), float) else "–"
            cash = f"{detail['cash']:,.2f}" if isinstance(detail.get("cash"), float) else "–"
            now.object = (
                f'<span id="last-tick" data-seq="{last.seq}">tick {last.seq}</span> · bar {last.bar_at:%Y-%m-%d} · '
                f'regime <b class="live-regime" style="color:{regime_color(last.regime)}">{regime}</b> · '
                f"confidence <b>{conf}</b> · close {last.close:,.2f} · equity {last.equity or 0:,.2f} · "
                f"position {html.escape(str(position))} shares · cash {html.escape(str(cash))}"
            )

    def on_select(_event: object) -> None:
        reset()
        refresh()

    select.param.watch(on_select, "value")
    refresh()
    push_on_change(ctx, lambda bot_id, kind: bot_id == select.value and kind in ("tick", "audit"), refresh)
    body = pn.Column(
        "## HMM live detection",
        select,
        now,
        pn.pane.Bokeh(price_fig, sizing_mode="stretch_width"),
        pn.pane.Bokeh(prob_fig, sizing_mode="stretch_width"),
        pn.pane.Bokeh(eq_fig, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
    return page(ctx, "live", body)
