"""The audit viewer: every decision record of one or more bots, filtered, opened, exported.

Each record is one bar's pipeline: bar -> features -> probabilities -> regime -> target ->
risk -> orders -> executions -> fills. The viewer is fed from outside (``add(bot_id, records)``):
the agent passes what its bus subscription holds, the web app what the API pages back plus
the live fan-out; the same record added twice is kept once.

A record is opened by its key, (bot, seq), never by its row position: the browser reports the
key written in the clicked row itself (:mod:`ui.audit_clicks`), so a new record arriving above
the row cannot make the detail show its neighbour (clicked seq 162, the panel showed 164), and
while a record is open the table holds still and says how many records are waiting.

The table shows trader formats (:mod:`ui.format`); the CSV export keeps plain numbers (a
spreadsheet reads ``0.875``, not ``87.5%``) and the JSONL export the whole record.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import uuid4

import pandas as pd
import panel as pn

from contracts.events import AuditRecord
from ui import format as fmt
from ui.audit_clicks import RowClicks, marked_cell, opened_row_css
from ui.portfolio_record import book_headline, is_portfolio, regimes_of, symbol_lines, symbols_table
from ui.regimes import NO_REGIME_NAME, regime_color, regime_name, regime_names

PIPELINE = (
    "bar",
    "models",  # a portfolio's models (features -> probabilities -> regime), then its symbols (target, risk)
    "symbols",
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
COLUMNS = ("bot", "seq", "bar", "kind", "regime", "confidence", "target", "approved", "risk", "orders", "sent",
           "fills", "equity")  # fmt: skip
CSV_COLUMNS = ("bot_id", "seq", "bar_at", "kind", "regime", "regime_name", "confidence", "target", "approved", "risk",
               "orders", "sent", "fills", "equity")  # fmt: skip
# What the Kind filter offers: the kinds record_kind finds in bots' records. No "lifecycle" (it
# offered one and listed nothing: bots write no such records); a record of a kind not listed here
# shows under "all". Fixed, not grown as records arrive: a Select changed while its tab is hidden
# throws in Bokeh's browser code (seen on the web bot page's Audit tab).
KINDS = ("decision", "risk", "refit")
RISK_EVENTS = frozenset({"halt", "rearm"})  # trader.risk's events: a limit tripped or re-armed on this bar
ALL = "all"
MAX_RECORDS = 50_000
REDRAW_EVERY_S = 1.0  # in a browser: a table redrawn at every tick moves under the pointer and cannot be clicked

Key = tuple[str, int]
NOTHING_OPEN = '<p class="audit-hint" style="color:#595959">Click a row to open its record.</p>'  # not an empty tree


def record_kind(record: AuditRecord) -> str:
    """What a record is about, for the Kind column and filter. Bots publish every bar as a
    ``decision``; the bar a risk limit halts or re-arms is a ``risk`` record and a bar whose
    model refit left a note (a failed warm refit, a changed number of regimes) a ``refit``, so a
    trader can find the bar the kill switch fired on without paging through every decision."""
    if record.kind != "decision":
        return record.kind
    events = record.detail.get("events")
    if isinstance(events, list) and any(isinstance(e, dict) and e.get("kind") in RISK_EVENTS for e in events):
        return "risk"
    notes = record.detail.get("notes")
    if isinstance(notes, list) and any(isinstance(n, str) and "refit" in n for n in notes):
        return "refit"
    return "decision"


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def flat(
    bot_id: str, record: AuditRecord, exposures: Sequence[float] | None = None, symbols: Sequence[str] | None = None
) -> dict[str, Any]:
    """The record's headline values, plain (what the CSV export holds).

    A portfolio's are its book's: target and approved exposure summed over its symbols, the book's
    risk status, and the regime and confidence of its one model (none with a model per symbol)."""
    detail = record.detail
    verdict = detail.get("risk")
    risk: dict[str, Any] = verdict if isinstance(verdict, dict) else {}
    regime, confidence = record.regime, _number(detail.get("confidence"))
    target, approved = _number(detail.get("target")), _number(risk.get("approved"))
    name = None
    if is_portfolio(detail):
        book = book_headline(record)
        regime, confidence, target, approved = book.regime, book.confidence, book.target, book.approved
        if regime is None:  # a model per symbol: each symbol's regime, in the bot's symbol order
            lines = symbol_lines(detail, symbols)
            name = "; ".join(f"{line.symbol}: {regime_name(line.regime, exposures)}" for line in lines)
    return {
        "bot_id": bot_id,
        "seq": record.seq,
        "bar_at": record.bar_at.isoformat(),
        "kind": record_kind(record),
        "regime": regime,
        "regime_name": name or regime_name(regime, exposures),
        "confidence": confidence,
        "target": target,
        "approved": approved,
        "risk": risk.get("status", ""),
        "orders": len(detail.get("orders") or []),
        "sent": sum(1 for e in detail.get("executions") or [] if e.get("venue_order_id")),
        "fills": len(detail.get("fills") or []),
        "equity": record.equity,
    }


def row(bot_name: str, plain: dict[str, Any]) -> dict[str, Any]:
    """A table row: the same values as :func:`flat`, formatted for a trader."""
    return {
        "bot": bot_name,
        "seq": plain["seq"],
        "bar": fmt.bar_label(pd.Timestamp(plain["bar_at"]).to_pydatetime()),
        "kind": plain["kind"],
        "regime": plain["regime_name"] if plain["regime_name"] != NO_REGIME_NAME else fmt.MISSING,
        "confidence": fmt.pct(plain["confidence"]),
        "target": fmt.pct(plain["target"], decimals=0),
        "approved": fmt.pct(plain["approved"], decimals=0),
        "risk": plain["risk"] or fmt.MISSING,
        "orders": plain["orders"],
        "sent": plain["sent"],
        "fills": plain["fills"],
        "equity": fmt.money(plain["equity"]),
    }


def pipeline_view(bot_id: str, record: AuditRecord) -> dict[str, Any]:
    """The record with its stages in pipeline order (what the drill-down and JSONL export show)."""
    detail = record.detail
    ordered: dict[str, Any] = {"bot_id": bot_id, "seq": record.seq, "bar_at": record.bar_at.isoformat()}
    ordered.update({stage: detail.get(stage) for stage in PIPELINE if stage in detail})
    ordered.update({k: v for k, v in detail.items() if k not in ordered})
    return ordered


def headline(
    bot_id: str,
    bot_name: str,
    record: AuditRecord,
    exposures: Sequence[float] | None,
    symbols: Sequence[str] | None = None,
) -> str:
    """The opened record in one sentence of HTML, numbers formatted, above its full JSON (and a
    portfolio's symbols under it, in the bot's order)."""
    plain = flat("", record, exposures, symbols)
    color = regime_color(plain["regime"], exposures)
    orders = f"{fmt.count(plain['orders'])} order{'s' * (plain['orders'] != 1)}"
    fills = f"{fmt.count(plain['fills'])} fill{'s' * (plain['fills'] != 1)}"
    key = f"{html.escape(bot_id)}:{record.seq}"
    regime = (
        f'regime <b style="color:{color}">{html.escape(plain["regime_name"])}</b> '
        f"({fmt.pct(plain['confidence'])} confident)"
    )
    portfolio = is_portfolio(record.detail)
    if portfolio and plain["regime"] is None:
        regime = "a regime per symbol (below)"
    book = "book " if portfolio else ""
    return (
        f'<div class="audit-open" data-key="{key}"><b>{html.escape(bot_name)}</b> · seq {record.seq} · '
        f"bar {fmt.bar_label(record.bar_at)} · {record_kind(record)} · {regime} · "
        f"{book}target {fmt.pct(plain['target'], decimals=0)} → approved {fmt.pct(plain['approved'], decimals=0)} "
        f"({plain['risk'] or fmt.MISSING}) · {orders} · {fills} · equity {fmt.money(plain['equity'])}</div>"
        + (symbols_table(record.detail, exposures, symbols) if portfolio else "")
    )


def _parse_day(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


class AuditView:
    """Audit records of any number of bots in one filterable table with a drill-down and exports."""

    def __init__(
        self,
        *,
        bot: str | None = None,
        page_size: int = 25,
        max_records: int = MAX_RECORDS,
        redraw_every_s: float = REDRAW_EVERY_S,
    ) -> None:
        self._records: dict[Key, AuditRecord] = {}
        self._dirty: set[str] = set()  # bots with records not drawn yet
        self._rows: dict[Key, dict[str, Any]] = {}  # formatted once per record, not at every redraw
        self._names: dict[str, str] = {}
        self._exposures: dict[str, list[float] | None] = {}
        self._symbols: dict[str, list[str]] = {}
        self._max = max_records
        self._opened: Key | None = None
        self._waiting = 0
        self._first_bot = bot
        self._view_id = uuid4().hex[:12]  # rows name their view: two audit views on one page stay apart

        self.bot_select = pn.widgets.Select(name="Bot", options={"All bots": ALL}, value=ALL, width=220)
        self.kind_select = pn.widgets.Select(
            name="Kind", options=[ALL, *KINDS], value=ALL, width=140, css_classes=["audit-kind"]
        )
        self.regime_select = pn.widgets.Select(name="Regime", options={"All regimes": ALL}, value=ALL, width=200)
        self.since = pn.widgets.TextInput(name="From (YYYY-MM-DD)", value="", width=150)
        self.until = pn.widgets.TextInput(name="To (YYYY-MM-DD)", value="", width=150)
        self.problem = pn.pane.Alert("", alert_type="warning", visible=False)
        self.count = pn.pane.HTML("", css_classes=["audit-count"])
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=list(COLUMNS)),
            selectable=False,  # the browser's selection is a row position: clicks open by key (ui.audit_clicks)
            show_index=False,
            pagination="remote",
            page_size=page_size,
            disabled=True,
            sizing_mode="stretch_width",
            css_classes=["audit-table"],
            text_align={
                c: "right" for c in ("seq", "confidence", "target", "approved", "orders", "sent", "fills", "equity")
            },
            formatters={"bot": {"type": "html"}},  # the bot cell carries the row's key (ui.audit_clicks)
            configuration={"columnDefaults": {"headerSort": False}},  # newest first; strings would sort wrong
        )
        self.clicks = RowClicks(self.open, view=self._view_id, width=0, height=0, margin=0)
        self.held = pn.pane.HTML("", css_classes=["audit-held"], visible=False)
        self.close_button = pn.widgets.Button(label="Close record", visible=False, css_classes=["audit-close"])
        self.summary = pn.pane.HTML(NOTHING_OPEN, css_classes=["audit-summary"], sizing_mode="stretch_width")
        self.drill = pn.pane.JSON(
            {}, depth=3, name="record", css_classes=["audit-drill"], sizing_mode="stretch_width", visible=False
        )
        downloads = pn.Row(
            pn.widgets.FileDownload(callback=self.export_csv, filename="audit.csv", label="Export CSV",
                                    button_type="primary"),
            pn.widgets.FileDownload(callback=self.export_jsonl, filename="audit.jsonl", label="Export JSONL"),
        )  # fmt: skip
        for widget in (self.kind_select, self.regime_select, self.since, self.until):
            widget.param.watch(lambda _e: self.refresh(force=True), "value")
        self.bot_select.param.watch(self._on_bot, "value")
        self.close_button.on_click(lambda _e: self.close())
        self.panel = pn.Column(
            pn.FlexBox(self.bot_select, self.kind_select, self.regime_select, self.since, self.until,
                       flex_wrap="wrap", sizing_mode="stretch_width"),
            self.problem,
            pn.FlexBox(self.count, downloads, flex_wrap="wrap", align_items="center", sizing_mode="stretch_width"),
            self.held,
            self.table,
            self.clicks,
            "### Record (features → probabilities → regime → target → risk → orders → fills)",
            pn.Row(self.summary, self.close_button, sizing_mode="stretch_width"),
            self.drill,
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.refresh(force=True)
        # Until the page is in the browser, records are drawn at once, so they are part of the
        # document it first renders. Panel's Tabulator drops data that arrives while the browser is
        # still building the table (TabulatorView.setData returns early): a first draw sent a moment
        # after the page loaded left a stopped bot's audit table empty under "26 records" for good.
        self._throttled = False
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:  # a live browser session
            pn.state.onload(lambda: self._throttle(redraw_every_s))

    # --- feeding ---------------------------------------------------------------------------

    def describe(
        self,
        bot_id: str,
        *,
        name: str | None = None,
        exposures: Sequence[float] | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        """Name a bot and give its exposures, so rows and the regime filter speak in regime names
        (and a portfolio's symbols, so its rows follow the order of its weights)."""
        if symbols is not None:
            self._symbols[bot_id] = list(symbols)
        known = (self._names.get(bot_id), self._exposures.get(bot_id))
        self._names[bot_id] = name or self._names.get(bot_id) or bot_id[:8]
        self._exposures[bot_id] = list(exposures) if exposures is not None else self._exposures.get(bot_id)
        if (self._names[bot_id], self._exposures[bot_id]) == known:
            return
        for key in [k for k in self._rows if k[0] == bot_id]:
            del self._rows[key]
        self._update_bot_options()
        if any(k[0] == bot_id for k in self._records):
            self.refresh()

    def add(self, bot_id: str, records: Iterable[AuditRecord]) -> int:
        """Keep these records (a (bot, seq) already kept is skipped) and show them; returns how many were new."""
        added = 0
        for record in records:
            key = (bot_id, record.seq)
            if key not in self._records:
                self._records[key] = record
                added += 1
        if bot_id not in self._names:
            self.describe(bot_id)
        while len(self._records) > self._max:
            oldest = next(iter(self._records))
            del self._records[oldest]
            self._rows.pop(oldest, None)
        if added:
            self._dirty.add(bot_id)
            if not self._throttled:
                self._flush()
        return added

    def _throttle(self, redraw_every_s: float) -> None:
        self._flush()
        self._throttled = True
        pn.state.add_periodic_callback(self._flush, period=int(redraw_every_s * 1000))

    def _flush(self) -> None:
        """Draw the records added since the last redraw (at most once a period in a browser session)."""
        if not self._dirty:
            return
        if self.bot_select.value in self._dirty and self._exposures.get(self.bot_select.value) is None:
            self._update_regime_options()  # regimes of a bot without a profile: those seen so far
        self._dirty.clear()
        self.refresh()

    @property
    def opened(self) -> Key | None:
        """The (bot, seq) shown in the drill-down, if any."""
        return self._opened

    def open(self, bot_id: str, seq: int) -> None:
        """Show one record in the drill-down and hold the table still until it is closed."""
        record = self._records.get((bot_id, seq))
        if record is None:
            return
        self._opened = (bot_id, seq)
        self.summary.object = headline(
            bot_id, self._names.get(bot_id, bot_id[:8]), record, self._exposures.get(bot_id), self._symbols.get(bot_id)
        )
        self.drill.object = pipeline_view(bot_id, record)
        self.drill.visible = True
        self.close_button.visible = True
        self._mark_opened()

    def close(self) -> None:
        """Close the drill-down and show the records that arrived meanwhile."""
        self._opened = None
        self.summary.object = NOTHING_OPEN
        self.drill.object = {}
        self.drill.visible = False
        self.close_button.visible = False
        self.refresh(force=True)

    # --- the table -------------------------------------------------------------------------

    def matching(self) -> list[tuple[str, AuditRecord]]:
        """The kept records that pass the filters, newest first."""
        self.problem.visible = False
        try:
            lo, hi = _parse_day(self.since.value or ""), _parse_day(self.until.value or "")
        except ValueError:
            self.problem.object, self.problem.visible = "Dates must look like 2008-09-15.", True
            lo = hi = None
        bot, kind, regime = self.bot_select.value, self.kind_select.value, self.regime_select.value
        out = []
        for (bot_id, _seq), record in self._records.items():
            if bot != ALL and bot_id != bot:
                continue
            if kind != ALL and record_kind(record) != kind:
                continue
            if regime != ALL and regime not in {str(k) for k in regimes_of(record)}:
                continue
            day = record.bar_at.date()
            if (lo and day < lo) or (hi and day > hi):
                continue
            out.append((bot_id, record))
        out.sort(key=lambda item: (item[1].bar_at, item[1].seq, item[0]), reverse=True)
        return out

    def refresh(self, force: bool = False) -> None:
        """Redraw the table from the kept records; while a record is open, only count what waits."""
        if self._opened is not None and not force:
            self._waiting = len(self.matching()) - len(self.table.value)
            self.held.object = (
                f'<span data-waiting="{self._waiting}">{fmt.count(self._waiting)} new records wait while a record '
                "is open: close it to show them.</span>"
            )
            self.held.visible = self._waiting > 0
            return
        shown = self.matching()
        frame = pd.DataFrame(
            [self._row(b, r) for b, r in shown],
            index=[f"{b}:{r.seq}" for b, r in shown],
            columns=list(COLUMNS),
        )
        self.table.value = frame
        self._mark_opened()
        self.held.visible = False
        self.count.object = f'<span data-count="{len(shown)}">{fmt.count(len(shown))} records</span>'

    def _row(self, bot_id: str, record: AuditRecord) -> dict[str, Any]:
        key = (bot_id, record.seq)
        cached = self._rows.get(key)
        if cached is None:
            name = self._names.get(bot_id, bot_id[:8])
            cached = row(name, flat(bot_id, record, self._exposures.get(bot_id), self._symbols.get(bot_id)))
            cached["bot"] = marked_cell(self._view_id, bot_id, record.seq, name)
            self._rows[key] = cached
        return cached

    def _mark_opened(self) -> None:
        """Highlight the open record's row by its key, in the table's own stylesheet: no row
        position is involved, so the mark stays on that record whatever frame the browser shows.
        The table turns to the page holding that row (newer records drawn just before the click
        may have pushed it off the page the trader was on)."""
        self.table.stylesheets = [opened_row_css(*self._opened)] if self._opened else []
        label = f"{self._opened[0]}:{self._opened[1]}" if self._opened else None
        if label is not None and label in self.table.value.index:
            page = int(self.table.value.index.get_loc(label)) // (self.table.page_size or 1) + 1
            if self.table.page != page:
                self.table.page = page

    def _on_bot(self, _event: object) -> None:
        self._update_regime_options()
        self.refresh(force=True)

    def _update_bot_options(self) -> None:
        labels: dict[str, str] = {"All bots": ALL}
        seen: set[str] = set()
        for bot_id, name in sorted(self._names.items(), key=lambda item: item[1].lower()):
            label = name if name not in seen else f"{name} ({bot_id[:8]})"
            seen.add(name)
            labels[label] = bot_id
        value = self.bot_select.value
        if self._first_bot in labels.values():
            value, self._first_bot = self._first_bot, None
        self.bot_select.options = labels
        self.bot_select.value = value if value in labels.values() else ALL
        self._update_regime_options()

    def _update_regime_options(self) -> None:
        bot = self.bot_select.value
        options: dict[str, str] = {"All regimes": ALL}
        if bot != ALL:
            exposures = self._exposures.get(bot)
            if exposures is not None:
                options.update({name: str(k) for k, name in enumerate(regime_names(exposures))})
            else:
                seen = sorted(set().union(*(regimes_of(r) for (b, _), r in self._records.items() if b == bot)))
                options.update({f"Regime {k}": str(k) for k in seen})
        value = self.regime_select.value
        self.regime_select.options = options
        self.regime_select.value = value if value in options.values() else ALL

    # --- exports ---------------------------------------------------------------------------

    def export_jsonl(self) -> io.StringIO:
        """Every matching record, whole, in pipeline order, one JSON object a line."""
        return io.StringIO("".join(json.dumps(pipeline_view(b, r)) + "\n" for b, r in self.matching()))

    def export_csv(self) -> io.StringIO:
        """Every matching record's headline values as plain numbers, newest first."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(flat(b, r, self._exposures.get(b), self._symbols.get(b)) for b, r in self.matching())
        out.seek(0)
        return out
