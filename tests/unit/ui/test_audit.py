"""The audit viewer: records kept once per (bot, seq), opened by key and not by row position,
held still while open, named regimes and trader formats in rows, plain numbers in CSV."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime

from tests.unit.ui.builders import BOT, record
from ui.audit import AuditView, flat, pipeline_view
from ui.audit_clicks import opened_row_css

A = str(BOT)
OTHER = uuid.UUID("0b5a7c1e-0000-4000-8000-0000000000bb")
B = str(OTHER)


def _view() -> AuditView:
    view = AuditView()
    view.describe(A, name="Alpha", exposures=[0.0, 0.5, 1.0])
    return view


def _row_of(view: AuditView, bot_id: str, seq: int) -> int:
    return int(view.table.value.index.get_loc(f"{bot_id}:{seq}"))


def _click(view: AuditView, bot_id: str, seq: int) -> None:
    """What the browser sends for a click on a row: the key written in that row's bot cell."""
    view.clicks._handle_msg({"view": view.clicks.view, "key": f"{bot_id}:{seq}"})


def test_rows_are_newest_first_with_trader_formats_and_regime_names() -> None:
    view = _view()
    assert view.add(A, [record(1, regime=0, equity=101_000.5), record(2, regime=2, equity=99_000.0)]) == 2
    rows = view.table.value.to_dict("records")
    assert [r["seq"] for r in rows] == [2, 1]
    assert rows[0]["bot"].endswith(">Alpha</span>")
    assert rows[0] | {"bot": rows[0]["bot"], "bar": "2024-05-02", "regime": "Risk-on · 100%", "confidence": "87.5%",
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
    _click(view, A, 162)
    assert view.opened == (A, 162)
    assert view.drill.object["seq"] == 162

    view.add(A, [record(s) for s in range(165, 175)])  # arrive above the open row
    assert view.opened == (A, 162) and view.drill.object["seq"] == 162
    assert len(view.table.value) == 5  # held still while the record is open
    assert view.held.visible and 'data-waiting="10"' in view.held.object
    assert view.table.stylesheets == [opened_row_css(A, 162)]  # the highlight names the record, not a row

    view.kind_select.value = "decision"  # a filter change redraws now, and the highlight stays on the record
    assert len(view.table.value) == 15
    assert view.table.stylesheets == [opened_row_css(A, 162)]

    view.close()
    assert view.opened is None and view.table.stylesheets == [] and not view.held.visible
    assert not view.drill.visible and "Click a row" in view.summary.object  # not an empty JSON tree


def test_a_click_reported_as_a_position_from_an_older_frame_opens_nothing_else() -> None:
    """The browser's selection is a row position it drew from an older frame: seq 17 was third,
    three newer records arrived since, so position 2 now names seq 20. It must not open seq 20;
    the row's own key (sent with the click) opens seq 17, and the highlight follows it."""
    view = _view()
    view.add(A, [record(s) for s in range(1, 20)])
    assert _row_of(view, A, 17) == 2
    view.add(A, [record(s) for s in range(20, 23)])
    assert view.table.selectable is False  # so the browser sends no positions at all
    view.table.selection = [2]  # were one to arrive
    assert view.opened is None
    _click(view, A, 17)
    assert view.opened == (A, 17) and view.drill.object["seq"] == 17
    assert view.table.stylesheets == [opened_row_css(A, 17)]


def test_the_table_turns_to_the_page_holding_the_opened_record() -> None:
    view = AuditView(page_size=10)
    view.describe(A, name="Alpha")
    view.add(A, [record(s) for s in range(1, 31)])  # seq 30 first: seq 17 is row 13, on page 2
    assert view.table.page == 1
    _click(view, A, 17)
    assert view.table.page == 2
    view.close()
    _click(view, A, 30)
    assert view.table.page == 1


def test_the_opened_row_rule_matches_only_its_key() -> None:
    rule = opened_row_css(A, 17)
    assert f'[data-audit-key="{A}:17"]' in rule and "background-color" in rule
    assert opened_row_css('x"] , *, [a="', 1).count('"') == 2 + 2  # a quote in a key cannot end the selector


def test_each_row_carries_its_key_and_the_bot_name_is_escaped() -> None:
    view = AuditView()
    view.describe(A, name='<img src=x onerror="alert(1)">')
    view.add(A, [record(5)])
    cell = view.table.value.iloc[0]["bot"]
    assert f'data-audit-key="{A}:5"' in cell and f'data-audit-view="{view.clicks.view}"' in cell
    assert "<img" not in cell and "&lt;img" in cell


def test_clicks_for_another_view_or_with_a_bad_key_are_ignored() -> None:
    view = _view()
    view.add(A, [record(5)])
    for message in (
        {"view": "another-view", "key": f"{A}:5"},
        {"view": view.clicks.view, "key": f"{A}:five"},
        {"view": view.clicks.view, "key": f"{A}:5 or 1=1"},
        {"view": view.clicks.view},
        {"view": view.clicks.view, "key": 5},
        ["not", "a", "dict"],
        {"view": view.clicks.view, "key": f"{A}:99"},  # a record this view does not hold
    ):
        view.clicks._handle_msg(message)
        assert view.opened is None, message
    _click(view, A, 5)
    assert view.opened == (A, 5)


def test_the_same_seq_in_two_bots_are_two_records() -> None:
    view = _view()
    view.describe(B, name="Beta")
    view.add(A, [record(7, equity=1.0)])
    view.add(B, [record(7, equity=2.0, bot=OTHER)])
    _click(view, B, 7)
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


def test_the_bar_a_limit_halts_or_rearms_is_a_risk_record_and_no_kind_offered_lists_nothing() -> None:
    """Bots publish every bar as a decision: the bar the kill switch fired on is found by its
    risk event, and the Kind filter offers no kind bots never write (it offered "lifecycle")."""
    view = _view()
    assert view.kind_select.options == ["all", "decision", "risk", "refit"]
    view.add(A, [record(1)])
    halt = {"kind": "halt", "rule": "drawdown", "reason": "drawdown 20.3% reached the 20% limit"}
    regime_change = {"kind": "regime_change", "from": 0, "to": 2}
    view.add(A, [record(2, status="killed", events=[regime_change, halt]), record(3, events=[regime_change])])
    view.add(A, [record(4, notes=["refit at bar 4 chose 2 regimes instead of 3"]), record(5, notes=["other"])])
    view.kind_select.value = "risk"
    assert list(view.table.value["seq"]) == [2]
    assert view.table.value.iloc[0]["kind"] == "risk"
    view.kind_select.value = "refit"
    assert list(view.table.value["seq"]) == [4]
    view.kind_select.value = "decision"
    assert list(view.table.value["seq"]) == [5, 3, 1]
    rearm = {"kind": "rearm", "rule": "manual", "reason": "re-armed by a person"}
    assert flat(A, record(6, events=[rearm]))["kind"] == "risk"
    assert flat(A, record(7, kind="lifecycle", events=[halt]))["kind"] == "lifecycle"  # a kind set by the bot wins


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
