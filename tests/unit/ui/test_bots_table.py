"""The Bots table's row: the at-a-glance fields of UX.md, read from a bot's last records and ticks."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.ui.builders import PORTFOLIO, day, portfolio_record, portfolio_run, record
from ui import format as fmt
from ui.bots_table import COLUMNS, day_change, header_html, holding, risk_since, row_html, state_reason


def _summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "bot_id": "0b5a7c1e-0000-4000-8000-0000000000aa", "name": "Trend bot", "mode": "paper",
        "symbols": ["SPY"], "status": "running", "reason": "", "restarts": 0, "health": "healthy",
        "regime": 1, "confidence": 0.875, "portfolio": False, "position": 500.0, "exposure": 0.5,
        "equity": 101_234.5, "pnl": 1_234.5, "pnl_pct": 0.012345, "pnl_today": -20.0, "pnl_today_pct": -0.0002,
        "last_bar": datetime(2024, 5, 2, tzinfo=UTC), "ticks": 1234, "exposures": [0.0, 1.0],
        "risk": "ok", "risk_reason": "", "risk_since": None,
    }  # fmt: skip
    return {**base, **changes}


def _cells(row: str) -> dict[str, str]:
    """Each cell's text as a browser reads it, by field."""
    found = re.findall(r'<div class="bot-cell" data-field="(\w+)">(.*?)</div>(?=<div class="bot-cell"|</div>$)', row)
    return {field: html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip() for field, body in found}


def test_a_row_has_a_labelled_cell_under_each_header_with_trader_formats() -> None:
    cells = _cells(row_html(_summary()))
    assert list(cells) == [field for field, _ in COLUMNS]
    assert all(f'data-field="{field}"' in header_html() for field, _ in COLUMNS)
    assert cells["bot"].startswith("bot Trend bot paper SPY")
    assert cells["risk"] == "risk OK"
    assert cells["regime"] == "regime ■ Risk-on · 100% 87.5% confident"
    assert cells["position"] == "position 50.0% invested 500 held"
    assert cells["equity"] == "equity $101,234.50"
    assert cells["pnl_today"] == "p&l today −$20.00 −<0.1%"
    assert cells["pnl_total"] == "p&l total +$1,234.50 +1.2%"
    assert cells["last_bar"] == "last bar 2024-05-02 bars 1,234"
    assert cells["status"] == "status running health healthy"


def test_gains_are_green_losses_red_and_a_zero_change_plain() -> None:
    row = row_html(_summary(pnl=-5.0, pnl_pct=-0.00005, pnl_today=0.004, pnl_today_pct=0.0))
    assert f'data-sign="down" style="color:{fmt.LOSS_COLOR}' in row
    assert '<span class="pnl" data-sign="">$0.00</span>' in row  # shows as zero: neither gain nor loss
    assert fmt.change_color(12.0) == fmt.GAIN_COLOR and fmt.change_color(None) is None


def test_a_stopped_bot_is_just_stopped_and_a_stale_stop_reason_goes_once_it_runs() -> None:
    stopped = _cells(row_html(_summary(status="stopped", reason="stopped on request")))["status"]
    assert stopped == "status stopped stopped on request"  # no "healthy" for a process that is not up
    running = _cells(row_html(_summary(status="running", reason="stopped on request")))["status"]
    assert running == "status running health healthy"
    assert state_reason("backoff", "stopped on request") == ""  # a start was just asked for
    assert state_reason("backoff", "crashed (exit 1); restarting in 2 s").startswith("crashed")
    assert state_reason("finished", "exited cleanly (end of its data)") == "exited cleanly (end of its data)"


def test_a_killed_bot_says_killed_with_its_reason_and_the_bar_it_began_on() -> None:
    records = [record(1), record(2), record(3, status="killed"), record(4, status="killed")]
    assert risk_since(records) == (day(3), True)
    cells = _cells(row_html(_summary(risk="killed", risk_reason="killed for a reason", risk_since=day(3))))
    assert cells["risk"] == f"risk KILLED: killed for a reason since {day(3).date().isoformat()}"
    assert risk_since([]) == (None, False)


def test_a_kill_older_than_the_records_kept_is_dated_or_earlier() -> None:
    """The agent keeps the records it heard: a bot killed before the agent started shows the first one."""
    records = [record(7, status="killed"), record(8, status="killed")]
    assert risk_since(records) == (day(7), False)
    summary = _summary(risk="killed", risk_reason="r", risk_since=day(7), risk_since_known=False)
    assert _cells(row_html(summary))["risk"].endswith(f"since {day(7).date().isoformat()} or earlier")


def test_the_days_pnl_is_against_the_last_equity_of_an_earlier_day() -> None:
    start = datetime(2024, 5, 1, 15, 0, tzinfo=UTC)
    points = [(start, 100.0), (start + timedelta(hours=8), 110.0), (start + timedelta(hours=10), 99.0)]
    assert day_change(points) == pytest.approx((-11.0, -0.1))  # 2024-05-01 closed at 110 (the 23:00 bar)
    assert day_change(points[:2]) is None  # one day only: nothing to compare with
    assert day_change([]) is None


def test_holding_reads_position_and_exposure_of_one_symbol_and_a_book() -> None:
    assert holding(record(1, close=100.0, equity=100_000.0)) == (500.0, 0.5)
    assert holding(None) == (None, None)
    book = portfolio_record(portfolio_run("reference")[-1])
    position, exposure = holding(book)
    legs = book.detail["symbols"]
    assert position is None and exposure == pytest.approx(sum(legs[s]["exposure"] for s in PORTFOLIO))
