"""Backtests page: pick data and a profile, run a walk-forward with a progress bar, read the
report (equity vs buy-and-hold with regime shading, metrics), reopen earlier runs."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, Range1d
from bokeh.plotting import figure
from pydantic import ValidationError

from agent.backtests import BacktestRun
from agent.dashboard.common import CSS, page, query_arg, regime_color
from agent.dashboard.context import AgentContext
from agent.instances import list_instances
from contracts.profile import BotProfile

DAY_MS = 86_400_000


def example_profile() -> dict[str, Any]:
    return {
        "basics": {"name": "Backtest", "surface": "local", "mode": "paper"},
        "market": {"symbols": ["SPY"], "data_source": "sp500"},
        "model": {"n_states": 3, "training_window": 504},
        "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
        "schedule": {"confirmed": True},
    }


def metrics_table(metrics: dict[str, Any]) -> str:
    strategy, hold = metrics.get("strategy", {}), metrics.get("benchmark", {})
    keys = [k for k in strategy if not isinstance(strategy[k], dict)]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_num(strategy.get(k))}</td><td>{_num(hold.get(k))}</td></tr>" for k in keys
    )
    shares = strategy.get("regime_time_share", {})
    share_text = ", ".join(f"regime {k}: {v:.0%}" for k, v in sorted(shares.items()))
    return (
        f'<table class="hmm metrics"><tr><th>metric</th><th>strategy</th><th>buy and hold</th></tr>{rows}</table>'
        f"<p>{metrics.get('bars')} decision bars, {metrics.get('first_decision')} to {metrics.get('last_decision')}. "
        f"Time in regimes: {html.escape(share_text)}</p>"
    )


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    return html.escape(str(value)) if value is not None else "–"


def report_figure(records: list[dict[str, Any]]) -> Any:
    if not records:
        return figure(height=300, title="no records")
    first_close, first_equity = records[0]["bar"]["close"], records[0]["equity"]
    data = {
        # datetimes, not dates: Bokeh sends dates as strings, which a datetime axis cannot place
        "t": [datetime.fromisoformat(r["bar"]["date"]).replace(tzinfo=UTC) for r in records],
        "equity": [r["equity"] for r in records],
        "hold": [first_equity * r["bar"]["close"] / first_close for r in records],
        "color": [regime_color(r["regime"]) for r in records],
    }
    source = ColumnDataSource(data)
    lines_range = DataRange1d()
    fig = figure(
        height=320,
        y_range=lines_range,
        x_axis_type="datetime",
        title="Equity vs buy-and-hold",
        sizing_mode="stretch_width",
    )
    fig.extra_y_ranges = {"shade": Range1d(start=0, end=1)}
    fig.vbar(
        x="t",
        top=1,
        bottom=0,
        width=DAY_MS,
        fill_color="color",
        line_color=None,
        alpha=0.2,
        source=source,
        y_range_name="shade",
    )
    lines_range.renderers = [
        fig.line("t", "equity", source=source, color="#1f4e79", legend_label="strategy", line_width=2),
        fig.line("t", "hold", source=source, color="#555555", legend_label="buy and hold", line_dash="dashed"),
    ]
    fig.legend.location = "top_left"
    return fig


def backtests_page(ctx: AgentContext) -> pn.Column:
    instances, _ = list_instances(ctx.home)
    profiles = {"example (3 regimes, 504-bar window)": example_profile()}
    profiles.update({f"bot: {i.profile.basics.name}": i.profile.model_dump(mode="json") for i in instances})
    data = pn.widgets.Select(
        name="Data", options=["sp500", "nasdaq", "CSV file…"], value="sp500", width=160, css_classes=["bt-data"]
    )
    data_file = pn.widgets.TextInput(
        name="CSV file (date,open,high,low,close,volume)", visible=False, width=360, css_classes=["bt-file"]
    )
    profile_pick = pn.widgets.Select(name="Profile", options=list(profiles), width=320)
    profile_text = pn.widgets.TextAreaInput(
        name="Profile JSON", value=json.dumps(example_profile(), indent=1), height=220, sizing_mode="stretch_width"
    )
    run_button = pn.widgets.Button(name="Run walk-forward", button_type="primary", css_classes=["bt-run"])
    progress = pn.indicators.Progress(name="progress", value=0, max=100, visible=False, width=400)
    status = pn.pane.HTML("", css_classes=["bt-status"], sizing_mode="stretch_width")
    runs = pn.widgets.Select(name="Earlier runs", options=[], width=420, css_classes=["bt-runs"])
    open_button = pn.widgets.Button(name="Open", css_classes=["bt-open"])
    report = pn.Column(sizing_mode="stretch_width", css_classes=["bt-report"])
    watching: dict[str, BacktestRun | None] = {"run": None}

    def list_runs() -> None:
        options = {f"{r.run_id} · {r.data} · {r.status}": r.run_id for r in ctx.backtests.runs()}
        runs.options = options

    def show(run: BacktestRun) -> None:
        if run.status == "failed":
            report.objects = [pn.pane.Alert(f"Run {run.run_id} failed: {run.error}", alert_type="danger")]
            return
        metrics = run.metrics() or {}
        report.objects = [
            pn.pane.HTML(f'<h3 class="bt-title" data-run="{run.run_id}">Run {run.run_id} ({run.data})</h3>'),
            pn.pane.Bokeh(report_figure(run.records()), sizing_mode="stretch_width"),
            pn.pane.HTML(
                metrics_table(metrics), css_classes=["bt-metrics"], sizing_mode="stretch_width", stylesheets=[CSS]
            ),
        ]

    def poll() -> None:
        run = watching["run"]
        if run is None:
            return
        progress.value = round(100 * run.fraction)
        status.object = f'<span data-state="{run.status}">{run.status}: {run.done} / {run.total} bars</span>'
        if run.status != "running":
            watching["run"] = None
            progress.visible = run.status == "running"
            run_button.disabled = False
            if run.status == "failed":
                status.object = (
                    f'<span data-state="failed" style="color:#b00">failed: {html.escape(run.error or "")}</span>'
                )
            list_runs()
            show(run)

    async def start(_event: object) -> None:
        source = (data_file.value or "").strip() if data.value == "CSV file…" else data.value
        if not source:
            status.object = '<span style="color:#b00">choose a CSV file</span>'
            return
        try:
            profile = BotProfile.model_validate_json(profile_text.value or "")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "profile"
            text = html.escape(f"profile {where}: {first['msg']}")
            status.object = f'<span data-state="invalid" style="color:#b00">{text}</span>'
            return
        if source not in ("sp500", "nasdaq") and not Path(source).is_file():  # noqa: ASYNC240 - one stat
            status.object = f'<span style="color:#b00">{html.escape(source)}: no such file</span>'
            return
        run_button.disabled = True
        progress.value, progress.visible = 0, True
        watching["run"] = await ctx.backtests.start(profile, source)
        list_runs()

    def on_open(_event: object) -> None:
        run = ctx.backtests.get(runs.value) if runs.value else None
        if run is not None:
            show(run)

    data.param.watch(lambda e: setattr(data_file, "visible", e.new == "CSV file…"), "value")
    profile_pick.param.watch(lambda e: setattr(profile_text, "value", json.dumps(profiles[e.new], indent=1)), "value")
    run_button.on_click(start)
    open_button.on_click(on_open)
    list_runs()
    wanted = query_arg("run")
    if wanted and (found := ctx.backtests.get(wanted)) is not None:
        show(found)
    pn.state.add_periodic_callback(poll, period=250)
    body = pn.Column(
        "## Backtests (walk-forward)",
        pn.Row(data, data_file, profile_pick),
        profile_text,
        pn.Row(run_button, progress),
        status,
        pn.Row(runs, open_button),
        report,
        sizing_mode="stretch_width",
    )
    return page(ctx, "backtests", body)
