"""The audit viewer: records kept once per (bot, seq), opened by key and not by row position,
held still while open, named regimes and trader formats in rows, plain numbers in CSV."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime

from tests.unit.ui.builders import BOT, record
from ui.audit import AuditView, flat, pipeline_view

A = str(BOT)
OTHER = uuid.UUID("0b5a7c1e-0000-4000-8000-0000000000bb")
B = str(OTHER)


def _view() -> AuditView:
    view = AuditView()
    view.describe(A, name="Alpha", exposures=[0.0, 0.5, 1.0])
    return view


def _row_of(view: AuditView, bot_id: str, seq: int) -> int:
    return int(view.table.value.index.get_loc(f"{bot_id}:{seq}"))


def test_rows_are_newest_first_with_trader_formats_and_regime_names() -> None:
    view = _view()
    assert view.add(A, [record(1, regime=0, equity=101_000.5), record(2, regime=2, equity=99_000.0)]) == 2
    rows = view.table.value.to_dict("records")
    assert [r["seq"] for r in rows] == [2, 1]
    assert rows[0] | {"bot": "Alpha", "bar": "2024-05-02", "regime": "Risk-on · 100%", "confidence": "87.5%",
                      "target": "50%", "approved": "50%", "risk": "ok", "equity": "$99,000.00"} == rows[0]  # fmt: skip
    assert rows[1]["equity"] == "$101,000.50"
    assert 'data-count="2"' in view.count.object


def test_the_same_record_added_twice_is_kept_once() -> None:
    view = _view()
    view.add(A, [record(1), record(2)])
    assert view.add(A, [record(2), record(1)]) == 0
    assert len(view.table.value) == 2


def test_a_clicked_row_opens_its_own_record_even_after_newer_ones_arrive() -> None:
    view = _view()
    view.add(A, [record(s) for s in range(160, 165)])
    view.table.selection = [_row_of(view, A, 162)]
    assert view.opened == (A, 162)
    assert view.drill.object["seq"] == 162

    view.add(A, [record(s) for s in range(165, 175)])  # arrive above the open row
    assert view.opened == (A, 162) and view.drill.object["seq"] == 162
    assert len(view.table.value) == 5  # held still while the record is open
    assert view.held.visible and 'data-waiting="10"' in view.held.object
    assert view.table.value.index[view.table.selection[0]] == f"{A}:162"

    view.kind_select.value = "decision"  # a filter change redraws now, and the highlight follows the record
    assert len(view.table.value) == 15
    assert view.table.value.index[view.table.selection[0]] == f"{A}:162"

    view.close()
    assert view.opened is None and view.table.selection == [] and not view.held.visible


def test_the_same_seq_in_two_bots_are_two_records() -> None:
    view = _view()
    view.describe(B, name="Beta")
    view.add(A, [record(7, equity=1.0)])
    view.add(B, [record(7, equity=2.0, bot=OTHER)])
    view.table.selection = [_row_of(view, B, 7)]
    assert view.opened == (B, 7) and view.drill.object["bot_id"] == B
    assert "Beta" in view.summary.object


def test_filters_by_bot_name_kind_regime_and_dates() -> None:
    view = _view()
    view.describe(B, name="Beta")
    view.add(A, [record(1, regime=0), record(2, regime=2), record(3, regime=2, kind="risk", status="halted")])
    view.add(B, [record(1, regime=1, bot=OTHER)])
    assert dict(view.bot_select.options) == {"All bots": "all", "Alpha": A, "Beta": B}
    assert list(view.regime_select.options) == ["All regimes"]  # regimes differ by bot: chosen per bot
    view.bot_select.value = A
    assert list(view.regime_select.options) == ["All regimes", "Risk-off · 0%", "Cautious · 50%", "Risk-on · 100%"]
    view.regime_select.value = "2"
    assert list(view.table.value["seq"]) == [3, 2]
    view.kind_select.value = "risk"
    assert list(view.table.value["seq"]) == [3]
    view.kind_select.value = "all"
    view.since.value = "2024-05-03"
    assert list(view.table.value["seq"]) == [3]
    view.since.value = "May 3rd"
    assert view.problem.visible


def test_a_bot_without_a_profile_filters_by_the_regimes_it_has_shown() -> None:
    view = AuditView(bot=B)
    view.add(B, [record(1, regime=2, bot=OTHER), record(2, regime=0, bot=OTHER)])
    assert view.bot_select.value == B
    assert list(view.regime_select.options) == ["All regimes", "Regime 0", "Regime 2"]


def test_exports_hold_the_matching_records_csv_plain_and_jsonl_whole() -> None:
    view = _view()
    view.add(A, [record(1, equity=101_000.5), record(2, status="killed")])
    rows = list(csv.DictReader(view.export_csv()))
    assert [r["seq"] for r in rows] == ["2", "1"]
    assert rows[1]["equity"] == "101000.5" and rows[1]["confidence"] == "0.875"
    assert rows[1]["regime_name"] == "Risk-off · 0%" and rows[0]["risk"] == "killed"
    lines = [json.loads(line) for line in view.export_jsonl().getvalue().splitlines()]
    assert [(line["bot_id"], line["seq"]) for line in lines] == [(A, 2), (A, 1)]


def test_the_drill_down_lists_the_stages_in_pipeline_order() -> None:
    detail = {"executions": [{"client_order_id": "a", "venue_order_id": "v-1"}], "orders": [{"client_order_id": "a"}]}
    stages = list(pipeline_view(A, record(1, **detail)))
    expected = ["bar", "features", "probabilities", "regime", "confidence", "target", "risk", "orders", "executions",
                "fills"]  # fmt: skip
    assert [s for s in stages if s in expected] == expected
    assert stages[:3] == ["bot_id", "seq", "bar_at"]


def test_a_live_record_counts_the_orders_the_venue_took() -> None:
    detail = {
        "orders": [{"client_order_id": "a"}, {"client_order_id": "b"}],
        "executions": [
            {"client_order_id": "a", "venue_order_id": "v-1", "status": "new"},
            {"client_order_id": "b", "status": "skipped", "reason": "under the minimum"},
        ],
    }
    plain = flat(A, record(1, **detail))
    assert (plain["orders"], plain["sent"], plain["fills"]) == (2, 1, 0)


def test_an_intraday_bar_shows_its_minute_and_a_daily_bar_its_date() -> None:
    view = _view()
    intraday = record(1).model_copy(update={"bar_at": datetime(2026, 3, 2, 14, 35, tzinfo=UTC)})
    view.add(A, [intraday, record(2)])
    assert set(view.table.value["bar"]) == {"2026-03-02 14:35 UTC", "2024-05-02"}
