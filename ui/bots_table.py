"""The Bots table: one row per bot with what a trader reads at a glance (``../shared/UX.md``).

Per bot: name, paper/live and symbols; the risk state (OK, or HALTED/KILLED with the reason and
the bar it began on); the regime by name with its confidence; the exposure and position; equity;
P&L on the last bar's day and in total, in $ and %, coloured by sign; the last bar's time; and the
process state, with its health only while it runs (a stopped bot is "stopped", never "stopped ·
healthy") and a supervisor reason only while it explains the state (no stale "stopped on request"
on a bot that runs again).

Each row is its own HTML pane (the bot's buttons are Panel widgets under it), so the columns are a
CSS grid with one template shared by the header and every row. Below 760 px the header hides and
each cell shows its own label, two cells to a line: no page is wider than a phone.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from contracts.events import AuditRecord
from ui import format as fmt
from ui.charts import STOP_COLOR, STOPPED, bar_close, risk_of
from ui.portfolio_record import is_portfolio, symbol_lines
from ui.regimes import regime_color, regime_name

COLUMNS: tuple[tuple[str, str], ...] = (  # (field, header)
    ("bot", "Bot"),
    ("risk", "Risk"),
    ("regime", "Regime"),
    ("position", "Position"),
    ("equity", "Equity"),
    ("pnl_today", "P&L today"),
    ("pnl_total", "P&L total"),
    ("last_bar", "Last bar"),
    ("status", "Status"),
)
MUTED = "#595959"  # 7:1 on white
PROCESS_UP = ("starting", "running", "stopping")  # a reason from an earlier stop or crash no longer applies

CSS = f"""
.bots-grid {{ display: grid; gap: 2px 12px; font-size: 13px; align-items: start; padding: 6px 0;
  grid-template-columns: minmax(150px, 1.7fr) minmax(110px, 1.3fr) minmax(120px, 1.3fr) minmax(90px, 1fr)
    minmax(95px, 1fr) minmax(90px, 1fr) minmax(90px, 1fr) minmax(80px, .9fr) minmax(90px, 1fr); }}
.bots-head {{ font-weight: 700; color: #222; border-bottom: 2px solid #1f4e79; }}
.bot-cell {{ min-width: 0; overflow-wrap: anywhere; }}
.bot-cell .sub {{ color: {MUTED}; font-size: 12px; }}
.cell-label {{ position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }}
@media (max-width: 760px) {{
  .bots-head {{ display: none; }}
  .bots-grid {{ grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 6px 12px; }}
  .bot-cell[data-field="bot"] {{ grid-column: 1 / -1; }}
  .cell-label {{ position: static; width: auto; height: auto; overflow: visible; clip: auto; display: block;
    color: {MUTED}; font-size: 11px; text-transform: uppercase; letter-spacing: .03em; }}
}}
"""


def risk_since(records: Sequence[AuditRecord]) -> tuple[datetime | None, bool]:
    """The bar on which the newest record's risk status began: the first of the run of records that
    share it, and whether a record before the run shows it began there (``False`` when the run
    reaches the oldest record kept: it may have begun earlier, before the agent started listening)."""
    if not records:
        return None, False
    status = risk_of(records[-1])[0]
    for older, newer in zip(reversed(records[:-1]), reversed(records[1:]), strict=True):
        if risk_of(older)[0] != status:
            return newer.bar_at, True
    return records[0].bar_at, False


def day_change(points: Sequence[tuple[datetime, float]]) -> tuple[float, float] | None:
    """(change, fraction) of the last equity against the last equity of an earlier UTC day: the P&L
    of the last bar's day. ``None`` until a bar of an earlier day is known."""
    if not points:
        return None
    last_at, last = points[-1]
    day = _day(last_at)
    for at, equity in reversed(points):
        if _day(at) < day:
            return last - equity, (last / equity - 1 if equity else 0.0)
    return None


def _day(at: datetime) -> date:
    return (at if at.tzinfo is None else at.astimezone(UTC)).date()


def holding(record: AuditRecord | None) -> tuple[float | None, float | None]:
    """(position, exposure as a fraction of equity) from a record; a portfolio's position is ``None``
    (one number per symbol) and its exposure the sum over its symbols."""
    if record is None:
        return None, None
    detail = record.detail
    if is_portfolio(detail):
        exposures = [line.exposure for line in symbol_lines(detail) if line.exposure is not None]
        return None, sum(exposures) if exposures else None
    position = detail.get("position")
    if not isinstance(position, int | float) or isinstance(position, bool):
        return None, None
    close, equity = bar_close(record), record.equity
    return float(position), (position * close / equity if close is not None and equity else None)


def state_reason(status: str, reason: str) -> str:
    """The supervisor's reason, only while it explains the state: the supervisor keeps the last one,
    so a bot started again after "stopped on request" would otherwise still say so."""
    if status in PROCESS_UP:
        return ""
    if status == "backoff" and not reason.startswith("crashed"):
        return ""  # a start was just asked for: the process comes up within a second
    return reason


def header_html() -> str:
    """The column headers (hidden on phones, where each cell carries its own label)."""
    cells = "".join(f'<div class="bot-cell" data-field="{f}">{html.escape(h)}</div>' for f, h in COLUMNS)
    return f'<div class="bots-grid bots-head" aria-hidden="true">{cells}</div>'


def _cell(field: str, body: str) -> str:
    label = dict(COLUMNS)[field]
    # a label a phone shows (and a screen reader reads); textContent reads "regime ■ Risk-on · 100%"
    return (
        f'<div class="bot-cell" data-field="{field}"><span class="cell-label">{html.escape(label.lower())}</span> '
        f"{body}</div>"
    )


def _sub(text: str) -> str:
    return f' <div class="sub">{text}</div>'  # the space keeps the cell's text readable as one line


def _change(amount: float | None, fraction: float | None) -> str:
    color = fmt.change_color(amount)
    style = f' style="color:{color};font-weight:600"' if color else ""
    sign = "" if color is None else ("up" if color == fmt.GAIN_COLOR else "down")
    body = f'<span class="pnl" data-sign="{sign}"{style}>{html.escape(fmt.signed_money(amount))}</span>'
    if fraction is not None and amount is not None:
        body += _sub(f"<span{style}>{html.escape(fmt.pct(fraction, signed=True))}</span>")
    return body


def mode_badge(mode: str) -> str:
    """A bot's mode as a small badge: LIVE stands out (real money), paper stays quiet."""
    if mode == "live":
        return (
            '<span class="bot-mode" data-mode="live" title="trades real money" style="background:#b00020;color:#fff;'
            'font-weight:700;font-size:11px;padding:1px 6px;border-radius:3px">LIVE</span>'
        )
    return (
        f'<span class="bot-mode" data-mode="{html.escape(mode)}" style="border:1px solid #999;color:#444;'
        f'font-size:11px;padding:0 5px;border-radius:3px">{html.escape(mode)}</span>'
    )


def risk_html(s: dict[str, Any]) -> str:
    """OK, or HALTED/KILLED in red with the reason and the bar it began on: a stopped bot never looks healthy."""
    risk = s.get("risk")
    if risk is None:
        return f'<span class="bot-risk" data-risk="">{fmt.MISSING}</span>'
    if risk not in STOPPED:
        return '<span class="bot-risk" data-risk="ok">OK</span>'
    reason = f": {html.escape(s.get('risk_reason') or '')}" if s.get("risk_reason") else ""
    since = s.get("risk_since")
    earlier = "" if s.get("risk_since_known", True) else " or earlier"
    when = _sub(f"since {html.escape(fmt.bar_label(since))}{earlier}") if since is not None else ""
    style = f"color:{STOP_COLOR};font-weight:700"
    return f'<div class="bot-risk" data-risk="{risk}" style="{style}">{risk.upper()}{reason}</div>{when}'


def _regime_html(s: dict[str, Any]) -> str:
    exposures = s.get("exposures")
    if s["regime"] is None:
        return "a regime per symbol" if s.get("portfolio") else fmt.MISSING
    swatch = f'<span style="color:{regime_color(s["regime"], exposures)}">&#9632;</span>'
    confidence = _sub(f"{html.escape(fmt.pct(s['confidence']))} confident") if s.get("confidence") is not None else ""
    return f"{swatch} {html.escape(regime_name(s['regime'], exposures))}{confidence}"


def _position_html(s: dict[str, Any]) -> str:
    exposure, position = s.get("exposure"), s.get("position")
    if exposure is None and position is None:
        return fmt.MISSING
    main = f"{html.escape(fmt.pct(exposure))} invested" if exposure is not None else fmt.MISSING
    if s.get("portfolio"):
        return main + _sub(f"{len(s.get('symbols') or [])} symbols")
    return main + (_sub(f"{fmt.quantity(position)} held") if position is not None else "")


def _status_html(s: dict[str, Any]) -> str:
    status = str(s["status"])
    body = f'<b class="bot-status">{html.escape(status)}</b>'
    if status == "running":  # health is the heartbeat's: it says nothing about a process that is not up
        body += _sub(f'health <span class="bot-health">{html.escape(str(s["health"]))}</span>')
    if s.get("restarts"):
        body += _sub(f"restarts {fmt.count(s['restarts'])}")
    if reason := state_reason(status, str(s.get("reason") or "")):
        body += _sub(f'<span class="bot-reason">{html.escape(reason)}</span>')
    return body


def row_html(s: dict[str, Any]) -> str:
    """One bot's row (``s`` is :func:`agent.dashboard.bots.bot_summary`'s)."""
    symbols = ", ".join(s.get("symbols") or [])
    bot = f'<a href="./live?bot={s["bot_id"]}"><b>{html.escape(s["name"])}</b></a> {mode_badge(s["mode"])}' + _sub(
        f'<span class="bot-symbols">{html.escape(symbols)}</span> · {s["bot_id"][:8]}'
    )
    last_bar = fmt.bar_label(s.get("last_bar")) + _sub(f"bars {fmt.count(s['ticks'])}")
    cells = {
        "bot": bot,
        "risk": risk_html(s),
        "regime": _regime_html(s),
        "position": _position_html(s),
        "equity": html.escape(fmt.money(s["equity"])),
        "pnl_today": _change(s.get("pnl_today"), s.get("pnl_today_pct")),
        "pnl_total": _change(s.get("pnl"), s.get("pnl_pct")),
        "last_bar": last_bar,
        "status": _status_html(s),
    }
    return (
        f'<div class="bot-row bots-grid" data-bot="{s["bot_id"]}" data-status="{html.escape(str(s["status"]))}"'
        f' data-ticks="{s["ticks"]}" data-mode="{html.escape(s["mode"])}" data-risk="{s.get("risk") or ""}">'
        + "".join(_cell(field, cells[field]) for field, _ in COLUMNS)
        + "</div>"
    )
