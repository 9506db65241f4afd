"""Portfolio records in the audit viewer and the live charts: the book's headline, one row per
symbol under the bar, and the chart drawing one symbol under its model's regime."""

from __future__ import annotations

import csv

from tests.unit.ui.builders import BOT, PORTFOLIO, portfolio_record, portfolio_run, record
from ui.audit import AuditView, flat, headline, pipeline_view
from ui.charts import RegimeCharts, now_line
from ui.portfolio_record import chart_view, symbol_lines

A = str(BOT)
EXPOSURES = [0.0, 1.0]


def _records(scope: str = "reference") -> list:
    return [portfolio_record(body) for body in portfolio_run(scope)]


def _invested(scope: str = "reference"):
    return next(r for r in reversed(_records(scope)) if any(line.position for line in symbol_lines(r.detail)))


def test_a_portfolio_row_shows_the_books_target_and_its_one_models_regime() -> None:
    last = _invested()
    lines = symbol_lines(last.detail)
    assert [line.symbol for line in lines] == list(PORTFOLIO) and [line.weight for line in lines] == [0.6, 0.4]
    plain = flat(A, last, EXPOSURES)
    assert plain["target"] == sum(line.target for line in lines)
    assert plain["approved"] == sum(line.approved for line in lines)
    model = last.detail["models"][PORTFOLIO[0]]
    assert (plain["regime"], plain["confidence"]) == (model["regime"], model["confidence"])
    assert plain["equity"] == last.detail["equity"] and plain["risk"] == last.detail["risk"]["status"]


def test_a_model_per_symbol_shows_no_single_regime_but_one_per_symbol_row() -> None:
    last = _invested("per_symbol")
    plain = flat(A, last, EXPOSURES)
    assert plain["regime"] is None
    names = {0: "Risk-off · 0%", 1: "Risk-on · 100%"}
    models = last.detail["models"]
    assert plain["regime_name"] == "; ".join(f"{s}: {names[models[s]['regime']]}" for s in PORTFOLIO)
    shown = headline(A, "Pair", last, EXPOSURES)
    assert "a regime per symbol (below)" in shown
    for line in symbol_lines(last.detail):
        model = last.detail["models"][line.symbol]
        assert line.model == line.symbol and line.regime == model["regime"]
        assert f'data-symbol="{line.symbol}"' in shown


def test_an_opened_portfolio_record_lists_each_symbol_under_the_bar() -> None:
    view = AuditView()
    view.describe(A, name="Pair", exposures=EXPOSURES)
    records = _records()
    assert view.add(A, records) == len(records)
    rows = view.table.value.to_dict("records")
    assert rows[0]["seq"] == records[-1].seq and rows[0]["equity"].startswith("$")
    last = _invested()
    view.open(A, last.seq)
    summary = view.summary.object
    assert summary.index("audit-open") < summary.index("book-symbols")  # the book first, its symbols under it
    for line in symbol_lines(last.detail):
        assert f'data-symbol="{line.symbol}"' in summary
    assert "Risk-on · 100%" in summary or "Risk-off · 0%" in summary  # regimes by name, not number
    assert "60%" in summary and "40%" in summary  # the weights
    stages = list(pipeline_view(A, last))
    assert stages.index("models") < stages.index("symbols") < stages.index("orders")


def test_portfolio_records_filter_by_their_models_regime_and_export_the_book() -> None:
    view = AuditView()
    view.describe(A, name="Pair", exposures=EXPOSURES)
    records = _records()
    view.add(A, records)
    view.bot_select.value = A
    regime = str(_invested().detail["models"][PORTFOLIO[0]]["regime"])
    view.regime_select.value = regime
    shown = list(view.table.value["seq"])
    assert shown and all(str(r.detail["models"][PORTFOLIO[0]]["regime"]) == regime for r in records if r.seq in shown)
    exported = list(csv.DictReader(view.export_csv()))
    assert len(exported) == len(shown) and all(row["target"] for row in exported)


def test_the_chart_draws_the_chosen_symbol_under_its_models_regime_with_the_books_equity() -> None:
    last = _invested("per_symbol")
    second = PORTFOLIO[1]
    view = chart_view(last, second)
    assert view.detail["bar"]["close"] == last.detail["symbols"][second]["bar"]["close"]
    assert view.regime == last.detail["models"][second]["regime"]
    assert view.probabilities == last.detail["models"][second]["probabilities"]
    assert view.equity == last.detail["equity"]
    assert chart_view(last, "ZZZ").detail["bar"]["close"] == last.detail["symbols"][PORTFOLIO[0]]["bar"]["close"]
    one = record(1)
    assert chart_view(one, "SPY") is one  # a one-symbol record is drawn as it is


def test_the_live_charts_and_now_line_take_portfolio_records_without_a_flat_close() -> None:
    charts = RegimeCharts(EXPOSURES, PORTFOLIO[0])
    records = _records()
    charts.add_audit(records)
    closes = [b.close for b in charts._bars.values()]
    assert closes and all(c is not None for c in closes)
    last = records[-1]
    line = now_line(None, last, EXPOSURES)
    assert f'data-seq="{last.seq}"' in line and "equity <b>$" in line
    assert 'class="book-symbols"' in line and all(f'data-symbol="{s}"' in line for s in PORTFOLIO)


def test_a_halted_book_says_so_first_on_the_live_line_and_in_its_audit_row() -> None:
    halted = next(r for r in _records() if r.detail["risk"]["status"] == "halted")  # the engine's own halt
    line = now_line(None, halted, EXPOSURES)
    assert line.startswith('<b class="live-risk" data-risk="halted"')
    assert halted.detail["risk"]["reasons"][0].split(":")[0] in line  # "drawdown 6.32% reached the 6% limit"
    assert flat(A, halted, EXPOSURES)["risk"] == "halted"
    charts = RegimeCharts(EXPOSURES, PORTFOLIO[0])
    charts.add_audit([halted])
    assert charts.stops.data["label"]  # the halt is marked on the chart, not a flat healthy line


def test_with_a_model_per_symbol_the_regime_filter_keeps_records_where_any_symbol_is_in_it() -> None:
    view = AuditView()
    view.describe(A, name="Pair", exposures=EXPOSURES)
    records = _records("per_symbol")
    view.add(A, records)
    view.bot_select.value = A
    view.regime_select.value = "0"
    expected = [r.seq for r in records if 0 in {m["regime"] for m in r.detail["models"].values()}]
    assert expected and sorted(view.table.value["seq"]) == expected


def test_rows_follow_the_bots_symbol_order_not_the_records_sorted_keys() -> None:
    last = _records()[-1]
    backwards = tuple(reversed(PORTFOLIO))
    assert [line.symbol for line in symbol_lines(last.detail, backwards)] == list(backwards)
    line = now_line(None, last, EXPOSURES, backwards)
    assert line.index(f'data-symbol="{backwards[0]}"') < line.index(f'data-symbol="{backwards[1]}"')
    view = AuditView()
    view.describe(A, name="Pair", exposures=EXPOSURES, symbols=backwards)
    view.add(A, [last])
    view.open(A, last.seq)
    summary = view.summary.object
    assert summary.index(f'data-symbol="{backwards[0]}"') < summary.index(f'data-symbol="{backwards[1]}"')
