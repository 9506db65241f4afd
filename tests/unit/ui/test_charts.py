"""The live charts: bars from ticks or audit records alone, drawn once per seq, regimes as merged
named spans, risk stops marked, and a now-line a trader can read."""

from __future__ import annotations

import math

from bokeh.models import Legend, NumeralTickFormatter

from tests.unit.ui.builders import record, tick
from ui.charts import RegimeCharts, now_line

EXPOSURES = [0.0, 0.5, 1.0]


def _charts() -> RegimeCharts:
    return RegimeCharts(EXPOSURES, "SPY")


def test_audit_records_alone_draw_price_and_equity_for_the_web_app() -> None:
    charts = _charts()
    charts.add_audit([record(1, 100.0, equity=100_000.0), record(2, 110.0, equity=101_000.0)])
    assert charts.bars.data["close"] == [100.0, 110.0]
    assert charts.bars.data["equity"] == [100_000.0, 101_000.0]
    assert charts.probs.data["p0"] == [1.0, 1.0]
    assert not charts.empty.visible


def test_the_same_bar_twice_or_from_tick_and_record_is_drawn_once() -> None:
    charts = _charts()
    charts.add_ticks([tick(1, 100.0), tick(2, 101.0)])
    charts.add_audit([record(1, 100.0), record(2, 101.0)])
    charts.add_audit([record(2, 101.0)])
    charts.add_ticks([tick(2, 101.0)])
    assert charts.bars.data["close"] == [100.0, 101.0]
    assert len(charts.probs.data["t"]) == 2


def test_history_loaded_after_live_bars_lands_in_time_order() -> None:
    charts = _charts()
    charts.add_audit([record(5, 105.0), record(6, 106.0)])
    charts.add_audit([record(1, 101.0), record(2, 102.0)])  # the web app pages back through older records
    assert charts.bars.data["close"] == [101.0, 102.0, 105.0, 106.0]
    assert charts.bars.data["t"] == sorted(charts.bars.data["t"])
    assert charts.probs.data["t"] == charts.bars.data["t"]


def test_regimes_shade_as_merged_spans_from_each_bar_to_the_next() -> None:
    charts = _charts()
    charts.add_ticks([tick(1, 100, 0), tick(2, 100, 0), tick(3, 100, 0), tick(4, 100, 2), tick(5, 100, 0)])
    t = charts.bars.data["t"]
    assert charts.spans[0].data == {"left": [t[0], t[4]], "right": [t[3], t[4] + (t[1] - t[0])]}
    assert charts.spans[2].data == {"left": [t[3]], "right": [t[4]]}
    assert charts.spans[1].data == {"left": [], "right": []}


def test_the_shading_and_probabilities_have_legends_naming_each_regime_lowest_exposure_first() -> None:
    charts = RegimeCharts([1.0, 0.0, 0.5], "QQQ")
    legends = {fig: next(r for r in fig.above if isinstance(r, Legend)) for fig in (charts.price_fig, charts.prob_fig)}
    shading = [item.label["value"] for item in legends[charts.price_fig].items if item.visible]
    probabilities = [item.label["value"] for item in legends[charts.prob_fig].items]
    assert shading == probabilities == ["Risk-off · 0%", "Cautious · 50%", "Risk-on · 100%"]
    assert charts.price_fig.yaxis[0].axis_label == "QQQ"


def test_an_unknown_profile_lists_only_the_regimes_it_has_seen() -> None:
    charts = RegimeCharts(None, "SPY")
    charts.add_ticks([tick(1, 100, 3), tick(2, 100, None)])
    legend = next(r for r in charts.price_fig.above if isinstance(r, Legend))
    assert [item.label["value"] for item in legend.items if item.visible] == ["Regime 3", "No regime"]


def test_money_and_percent_axes_never_show_exponents() -> None:
    charts = _charts()
    formats = {
        fig.title.text: fig.yaxis[0].formatter.format
        for fig in (charts.equity_fig, charts.drawdown_fig, charts.prob_fig)
        if isinstance(fig.yaxis[0].formatter, NumeralTickFormatter)
    }
    assert formats == {
        "Equity": "$0,0",
        "Drawdown from the equity peak": "0%",
        "Filtered regime probabilities": "0%",
    }


def test_drawdown_is_a_fraction_below_the_running_peak() -> None:
    charts = _charts()
    charts.add_ticks([tick(1, 100, equity=100_000.0), tick(2, 100, equity=80_000.0), tick(3, 100, equity=120_000.0)])
    assert [round(d, 4) for d in charts.bars.data["drawdown"]] == [0.0, -0.2, 0.0]


def test_a_kill_switch_is_marked_once_where_it_fired_and_a_halt_too() -> None:
    charts = _charts()
    charts.add_audit([record(1), record(2, 95.0, status="killed"), record(3, 96.0, status="killed")])
    charts.add_audit([record(4, 97.0, status="halted", kind="risk")])
    assert charts.stops.data["y_price"] == [95.0, 97.0]
    assert charts.stops.data["label"] == ["killed: killed for a reason", "halted: halted for a reason"]


def test_a_bar_without_equity_leaves_a_gap_not_a_zero() -> None:
    charts = _charts()
    charts.add_ticks([tick(1, 100.0, equity=None)])
    assert math.isnan(charts.bars.data["equity"][0])


def test_reset_forgets_every_bar() -> None:
    charts = _charts()
    charts.add_audit([record(1, status="killed")])
    charts.reset()
    assert charts.bars.data["t"] == charts.probs.data["t"] == charts.stops.data["t"] == []
    charts.add_audit([record(1)])
    assert len(charts.bars.data["t"]) == 1


def test_history_is_bounded_to_the_newest_bars() -> None:
    charts = RegimeCharts(EXPOSURES, "SPY", history=3)
    charts.add_ticks([tick(s, float(s)) for s in range(1, 6)])
    charts.add_ticks([tick(6, 6.0)])
    assert charts.bars.data["close"] == [4.0, 5.0, 6.0]


def test_the_now_line_names_the_regime_and_formats_money_and_percent() -> None:
    line = now_line(tick(7, 4512.25, regime=2, equity=101_000.5), record(7, 4512.25, regime=2), EXPOSURES)
    assert "Risk-on · 100%" in line and "90.0% confident" in line
    assert "close 4,512.25" in line and "$101,000.50" in line and "position 500" in line
    assert 'data-seq="7"' in line and "KILLED" not in line


def test_the_now_line_from_a_record_alone_says_the_bot_was_killed() -> None:
    line = now_line(None, record(9, 90.0, regime=None, equity=80_000.0, status="killed"), EXPOSURES)
    assert line.startswith('<b class="live-risk" data-risk="killed"')
    assert "killed for a reason" in line and "$80,000.00" in line and "No regime" in line
    assert "Waiting for the first bar" in now_line(None, None, EXPOSURES)


def test_the_price_chart_names_its_symbol_and_whether_the_bars_are_a_replay() -> None:
    replay, live, unknown = (RegimeCharts(EXPOSURES, "SPY", feed=feed) for feed in ("replay", "live", None))
    assert replay.price_fig.yaxis[0].axis_label == "SPY (replay)"
    assert replay.price_fig.title.text.startswith("SPY (replay): price")
    assert live.price_fig.yaxis[0].axis_label == "SPY (live feed)"
    assert unknown.price_fig.yaxis[0].axis_label == "SPY"
