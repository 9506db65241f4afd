"""Audit pipeline viewer: decision records as they stream, filtered, drilled into, exported.

Each row is one bar's pipeline: features -> probabilities -> regime -> target -> risk
verdict -> orders -> fills. Selecting a row shows the whole record in that order.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import pandas as pd
import panel as pn

from agent.dashboard.common import page, query_arg
from agent.dashboard.context import AgentContext
from contracts.events import AuditRecord

PIPELINE = (
    "bar",
    "features",
    "probabilities",
    "regime",
    "confidence",
    "target",
    "risk",
    "orders",
    "executions",  # a live bot's orders at its venue: venue order id, status, or why not sent
    "fills",
)
COLUMNS = (
    "bot",
    "seq",
    "bar_at",
    "kind",
    "regime",
    "confidence",
    "target",
    "risk",
    "orders",
    "sent",
    "fills",
    "equity",
)


def flat(bot_id: str, record: AuditRecord) -> dict[str, Any]:
    detail = record.detail
    risk = detail.get("risk") or {}
    return {
        "bot": bot_id[:8],
        "seq": record.seq,
        "bar_at": _bar_label(record.bar_at),
        "kind": record.kind,
        "regime": -1 if record.regime is None else record.regime,
        "confidence": detail.get("confidence"),
        "target": detail.get("target"),
        "risk": risk.get("status", ""),
        "orders": len(detail.get("orders") or []),
        "sent": sum(1 for e in detail.get("executions") or [] if e.get("venue_order_id")),
        "fills": len(detail.get("fills") or []),
        "equity": record.equity,
    }


def _bar_label(bar_at: datetime) -> str:
    """A daily bar by its date; an intraday bar by its UTC start to the minute."""
    if (bar_at.hour, bar_at.minute, bar_at.second) == (0, 0, 0):
        return bar_at.date().isoformat()
    return bar_at.strftime("%Y-%m-%d %H:%M")


def pipeline_view(bot_id: str, record: AuditRecord) -> dict[str, Any]:
    """The record with its stages in pipeline order (what the drill-down shows)."""
    detail = record.detail
    ordered: dict[str, Any] = {"bot_id": bot_id, "seq": record.seq, "bar_at": record.bar_at.isoformat()}
    ordered.update({stage: detail.get(stage) for stage in PIPELINE if stage in detail})
    ordered.update({k: v for k, v in detail.items() if k not in ordered})
    return ordered


def _parse_day(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


def audit_page(ctx: AgentContext) -> pn.Column:
    bots = sorted(ctx.live.bots)
    first = query_arg("bot")
    bot_select = pn.widgets.Select(name="Bot", options=["all", *bots], value=first if first in bots else "all")
    kind_select = pn.widgets.Select(name="Kind", options=["all", "decision", "refit", "risk", "lifecycle"], value="all")
    regime_select = pn.widgets.Select(name="Regime", options=["all", *map(str, range(6))], value="all")
    since = pn.widgets.TextInput(name="From (YYYY-MM-DD)", value="", width=150)
    until = pn.widgets.TextInput(name="To (YYYY-MM-DD)", value="", width=150)
    problem = pn.pane.Alert("", alert_type="warning", visible=False)
    table = pn.widgets.Tabulator(
        pd.DataFrame(columns=list(COLUMNS)),
        selectable=1,
        show_index=False,
        pagination="remote",
        page_size=25,
        disabled=True,
        sizing_mode="stretch_width",
        css_classes=["audit-table"],
    )
    drill = pn.pane.JSON({}, depth=3, name="record", css_classes=["audit-drill"], sizing_mode="stretch_width")
    count = pn.pane.HTML("", css_classes=["audit-count"])
    shown: list[tuple[str, AuditRecord]] = []
    seen = {"total": -1}

    def matching() -> list[tuple[str, AuditRecord]]:
        problem.visible = False
        try:
            lo, hi = _parse_day(since.value or ""), _parse_day(until.value or "")
        except ValueError:
            problem.object, problem.visible = "Dates must look like 2008-09-15.", True
            lo = hi = None
        out = []
        for bot_id, live in sorted(ctx.live.bots.items()):
            if bot_select.value != "all" and bot_id != bot_select.value:
                continue
            for record in live.audit:
                if kind_select.value != "all" and record.kind != kind_select.value:
                    continue
                if regime_select.value != "all" and record.regime != int(regime_select.value):
                    continue
                day = record.bar_at.date()
                if (lo and day < lo) or (hi and day > hi):
                    continue
                out.append((bot_id, record))
        return out

    def refresh(force: bool = False) -> None:
        bot_select.options = ["all", *sorted(ctx.live.bots)]
        total = sum(len(live.audit) for live in ctx.live.bots.values())
        if total == seen["total"] and not force:
            return
        seen["total"] = total
        shown[:] = list(reversed(matching()))  # newest first
        table.value = pd.DataFrame([flat(b, r) for b, r in shown], columns=list(COLUMNS))
        count.object = f'<span data-count="{len(shown)}">{len(shown)} records</span>'

    def on_select(event: Any) -> None:
        if event.new and event.new[0] < len(shown):
            bot_id, record = shown[event.new[0]]
            drill.object = pipeline_view(bot_id, record)

    def export_jsonl() -> io.StringIO:
        return io.StringIO("".join(json.dumps(pipeline_view(b, r)) + "\n" for b, r in shown))

    def export_csv() -> io.StringIO:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(flat(b, r) for b, r in shown)
        out.seek(0)
        return out

    for widget in (bot_select, kind_select, regime_select, since, until):
        widget.param.watch(lambda _e: refresh(force=True), "value")
    table.param.watch(on_select, "selection")
    downloads = pn.Row(
        pn.widgets.FileDownload(callback=export_csv, filename="audit.csv", label="Export CSV", button_type="primary"),
        pn.widgets.FileDownload(callback=export_jsonl, filename="audit.jsonl", label="Export JSONL"),
    )
    refresh()
    pn.state.add_periodic_callback(refresh, period=1000)
    body = pn.Column(
        "## Audit pipeline",
        pn.Row(bot_select, kind_select, regime_select, since, until),
        problem,
        pn.Row(count, downloads),
        table,
        "### Record (features → probabilities → regime → target → risk → orders → fills)",
        drill,
        sizing_mode="stretch_width",
    )
    return page(ctx, "audit", body)
