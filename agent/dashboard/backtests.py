"""Backtests page: pick data and a profile, run a walk-forward with a progress bar, read the
report (equity vs buy-and-hold with regime shading, metrics), reopen earlier runs.

A portfolio run (several symbols, e.g. the bundled SPY + QQQ) shows the book's equity
against buy-and-hold of the same weights, shaded by the first model's regime, and a row per
symbol (weight, trades, costs, exposure, contribution to the return).

Metrics, the profile a run used and a refused profile's errors are written by
``agent.dashboard.backtest_words`` (the report's names, ``ui.format``, the wizard's words); a
reopened run shows its profile and loads it into the editor. The profile is edited as JSON or
with the wizard's own fields (``agent.dashboard.backtest_form``), the two kept in step."""

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
from agent.dashboard.backtest_form import ProfileForm, edited
from agent.dashboard.backtest_words import metrics_table, named_exposures, profile_error, profile_table, run_profile
from agent.dashboard.common import CSS, page, query_arg, regime_color
from agent.dashboard.context import AgentContext
from agent.instances import list_instances
from contracts.profile import BotProfile
from ui import format as fmt
from ui.wizard_words import FieldProblem

DAY_MS = 86_400_000
UNREADABLE = "Profile JSON cannot be read: fix it, or pick a profile"
CSV_CHOICE = "CSV file…"
DATA_CHOICES = {"sp500": "sp500", "nasdaq": "nasdaq", "SPY + QQQ (bundled)": "bundled", CSV_CHOICE: CSV_CHOICE}


def example_profile() -> dict[str, Any]:
    return {
        "basics": {"name": "Backtest", "surface": "local", "mode": "paper"},
        "market": {"symbols": ["SPY"], "data_source": "sp500"},
        "model": {"n_states": 3, "training_window": 504},
        "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
        "schedule": {"confirmed": True},
    }


def example_portfolio() -> dict[str, Any]:
    """Two symbols on the bundled data, one model on SPY setting both (weights equal)."""
    return {
        "basics": {"name": "Backtest SPY + QQQ", "surface": "local", "mode": "paper"},
        "market": {"symbols": ["SPY", "QQQ"], "data_source": "bundled"},
        "model": {"n_states": 3, "training_window": 504, "scope": "reference"},
        "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
        "schedule": {"confirmed": True},
    }


def _held(records: list[dict[str, Any]]) -> list[float]:
    """Buy-and-hold from the first decision: the one series, or a portfolio's weights never rebalanced."""
    first_equity = records[0]["equity"]
    if "symbols" not in records[0]:
        first_close = records[0]["bar"]["close"]
        return [first_equity * r["bar"]["close"] / first_close for r in records]
    legs = records[0]["symbols"]
    cash = first_equity * (1 - sum(leg["weight"] for leg in legs.values()))
    return [
        cash
        + sum(
            first_equity * leg["weight"] * r["symbols"][s]["bar"]["close"] / leg["bar"]["close"]
            for s, leg in legs.items()
        )
        for r in records
    ]


def _regime(record: dict[str, Any]) -> int | None:
    """The regime a record shades: its own, or a portfolio's first model's."""
    if "models" in record:
        return next(iter(record["models"].values()))["regime"]  # type: ignore[no-any-return]
    return record["regime"]  # type: ignore[no-any-return]


def report_figure(records: list[dict[str, Any]], exposures: list[float] | None = None) -> Any:
    if not records:
        return figure(height=300, title="no records")
    data = {
        # datetimes, not dates: Bokeh sends dates as strings, which a datetime axis cannot place
        "t": [datetime.fromisoformat(r["bar"]["date"]).replace(tzinfo=UTC) for r in records],
        "equity": [r["equity"] for r in records],
        "hold": _held(records),
        "color": [regime_color(_regime(r), exposures) for r in records],
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
    fmt.money_axis(fig.yaxis)  # never 1.080e+5
    return fig


def backtests_page(ctx: AgentContext) -> pn.Column:
    instances, _ = list_instances(ctx.home)
    profiles = {
        "example (3 regimes, 504-bar window)": example_profile(),
        "example portfolio (SPY + QQQ, one model on SPY)": example_portfolio(),
    }
    profiles.update({f"bot: {i.profile.basics.name}": i.profile.model_dump(mode="json") for i in instances})
    data = pn.widgets.Select(name="Data", options=DATA_CHOICES, value="sp500", width=200, css_classes=["bt-data"])
    data_file = pn.widgets.TextInput(
        name="CSV file (date,open,high,low,close,volume)", visible=False, width=340, css_classes=["bt-file"]
    )
    profile_pick = pn.widgets.Select(name="Profile", options=list(profiles), width=320)
    profile_text = pn.widgets.TextAreaInput(
        name="Profile JSON",
        value=json.dumps(example_profile(), indent=1),
        height=220,
        sizing_mode="stretch_width",
        css_classes=["bt-profile-json"],
    )
    form = ProfileForm()
    run_button = pn.widgets.Button(name="Run walk-forward", button_type="primary", css_classes=["bt-run"])
    progress = pn.indicators.Progress(name="progress", value=0, max=100, visible=False, width=320)
    status = pn.pane.HTML("", css_classes=["bt-status"], sizing_mode="stretch_width")
    runs = pn.widgets.Select(name="Earlier runs", options=[], width=320, css_classes=["bt-runs"])
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
        used = run_profile(run.profile)
        exposures = named_exposures(used)
        report.objects = [
            pn.pane.HTML(f'<h3 class="bt-title" data-run="{run.run_id}">Run {run.run_id} ({run.data})</h3>'),
            pn.pane.Bokeh(report_figure(run.records(), exposures), sizing_mode="stretch_width"),
            pn.pane.HTML(
                metrics_table(metrics, exposures),
                css_classes=["bt-metrics"],
                sizing_mode="stretch_width",
                stylesheets=[CSS],
            ),
        ]
        if used is not None:
            report.append(
                pn.pane.HTML(
                    profile_table(used), css_classes=["bt-profile"], sizing_mode="stretch_width", stylesheets=[CSS]
                )
            )

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
        source = (data_file.value or "").strip() if data.value == CSV_CHOICE else data.value
        if not source:
            status.object = '<span style="color:#b00">choose a CSV file</span>'
            return
        try:
            profile = BotProfile.model_validate_json(profile_text.value or "")
        except ValidationError as exc:
            status.object = f'<span data-state="invalid" style="color:#b00">{html.escape(profile_error(exc))}</span>'
            return
        if len(profile.market.symbols) > 1 and source != "bundled":
            source = "profile"  # a portfolio reads each symbol's bars as its market section names them
        elif source not in ("sp500", "nasdaq", "bundled") and not Path(source).is_file():  # noqa: ASYNC240 - one stat
            status.object = f'<span style="color:#b00">{html.escape(source)}: no such file</span>'
            return
        run_button.disabled = True
        progress.value, progress.visible = 0, True
        watching["run"] = await ctx.backtests.start(profile, source)
        list_runs()

    def reopen(run: BacktestRun) -> None:
        show(run)
        if run.profile:  # the run's own settings in the editor, to change one and run again
            profile_text.value = json.dumps(run.profile, indent=1)

    def on_open(_event: object) -> None:
        run = ctx.backtests.get(runs.value) if runs.value else None
        if run is not None:
            reopen(run)

    def pick_profile(event: Any) -> None:
        chosen = profiles[event.new]
        profile_text.value = json.dumps(chosen, indent=1)
        if len(chosen.get("market", {}).get("symbols", [])) > 1:  # a portfolio reads its profile's data
            data.value = "bundled" if chosen["market"].get("data_source") == "bundled" else data.value

    def sync_form(text: str | None) -> None:
        """The form shows what the JSON says, whenever the JSON reads as a profile."""
        try:
            form.fill(BotProfile.model_validate_json(text or ""))
        except ValidationError:
            return  # half-typed JSON: the form keeps its last good values
        form.message.object = ""

    def apply_form(_event: object) -> None:
        try:
            body = json.loads(profile_text.value or "")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            form.message.object = f'<span style="color:#b00">{UNREADABLE}</span>'
            return
        try:
            changed = edited(body, form.values())
            BotProfile.model_validate(changed)
        except FieldProblem as exc:
            form.message.object = f'<span style="color:#b00">{html.escape(str(exc.problem))}</span>'
            return
        except ValidationError as exc:
            form.message.object = f'<span style="color:#b00">{html.escape(profile_error(exc))}</span>'
            return
        profile_text.value = json.dumps(changed, indent=1)
        form.message.object = '<span data-state="applied">Applied: Run walk-forward uses these settings</span>'

    profile_text.param.watch(lambda e: sync_form(e.new), "value")
    form.apply.on_click(apply_form)
    sync_form(profile_text.value)
    data.param.watch(lambda e: setattr(data_file, "visible", e.new == CSV_CHOICE), "value")
    profile_pick.param.watch(pick_profile, "value")
    run_button.on_click(start)
    open_button.on_click(on_open)
    list_runs()
    wanted = query_arg("run")
    if wanted and (found := ctx.backtests.get(wanted)) is not None:
        reopen(found)
    pn.state.add_periodic_callback(poll, period=250)
    body = pn.Column(
        "## Backtests (walk-forward)",
        # FlexBoxes wrap at phone width, where the fixed-width rows made the page 551 px wide
        pn.FlexBox(data, data_file, profile_pick, flex_wrap="wrap"),
        profile_text,
        form.card,
        pn.FlexBox(run_button, progress, flex_wrap="wrap", align_items="center"),
        status,
        pn.FlexBox(runs, open_button, flex_wrap="wrap", align_items="flex-end"),
        report,
        sizing_mode="stretch_width",
    )
    return page(ctx, "backtests", body)
