"""The Backtests page in a trader's words: a refused profile is named at its field without doubled
or raw words, metrics carry plain names and formats, a run shows the profile it used, and the
wizard's fields edit the profile without losing what they do not show."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from agent.dashboard.backtest_form import ProfileForm, edited
from agent.dashboard.backtest_words import metrics_table, profile_error, profile_table
from agent.dashboard.backtests import example_portfolio, example_profile, report_figure
from contracts.profile import BotProfile
from ui import format as fmt

DOUBLED = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)
METRICS: dict[str, Any] = {
    "bars": 1180,
    "first_decision": "2000-04-10",
    "last_decision": "2004-12-20",
    "strategy": {
        "cagr": -0.0263,
        "annual_volatility": 0.0964,
        "sharpe": -0.2283,
        "sortino": -0.3057,
        "max_drawdown": 0.2034,
        "calmar": -0.0803,
        "trades": 31,
        "trades_per_year": 6.62,
        "turnover_per_year": 4.389,
        "total_commission": 1168.809,
        "total_slippage": 337.614,
        "costs_pct_of_equity_per_year": 0.1317,
        "average_exposure": 0.5077,
        "regime_time_share": {"0": 0.358, "1": 0.164, "2": 0.474, "None": 0.004},
    },
    "benchmark": {"name": "buy and hold", "cagr": -0.0481, "max_drawdown": 0.4892, "sharpe": -0.1451},
}


def _error(body: str) -> str:
    with pytest.raises(ValidationError) as caught:
        BotProfile.model_validate_json(body)
    return profile_error(caught.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"model": {"n_states": 4, "training_window": 504}}, "Exposure per regime: 3 exposures for 4 regimes"),
        ({"market": {"symbols": ["QQQ"], "data_source": "sp500"}}, "Symbols: 'QQQ' is not in the sp500 data source"),
        ({"model": {"n_states": 3, "training_window": "abc"}}, "Training window: write a whole number"),
    ],
)
def test_a_refused_profile_is_named_at_its_field_in_plain_words(change: dict[str, Any], says: str) -> None:
    text = _error(json.dumps({**example_profile(), **change}))
    assert text.startswith(says)
    assert "Value error" not in text and "profile profile" not in text.lower() and not DOUBLED.search(text)


def test_unreadable_json_and_missing_sections_say_what_to_do_once() -> None:
    broken = _error('{"basics": ')
    assert broken.startswith("Profile JSON cannot be read (") and "brackets, quotes and commas" in broken
    assert not DOUBLED.search(broken)
    empty = _error("{}")
    assert "Profile basics: required" in empty and empty.count("Profile basics") == 1


def test_metrics_have_the_reports_names_and_trader_formats() -> None:
    table = metrics_table(METRICS, [0.0, 0.5, 1.0])
    assert f"<tr><td>Max drawdown</td><td>{fmt.pct(0.2034, 1)}</td><td>{fmt.pct(0.4892, 1)}</td></tr>" in table
    assert "<tr><td>Sharpe</td><td>−0.23</td><td>−0.15</td></tr>" in table
    assert "<tr><td>Commission paid</td><td>$1,168.81</td><td>–</td></tr>" in table
    assert "<tr><td>Average exposure</td><td>51%</td><td>100%</td></tr>" in table
    assert "1,180 decision bars, 2000-04-10 to 2004-12-20" in table
    assert "Time per regime: Risk-off · 0%: 35.8%, Cautious · 50%: 16.4%, Risk-on · 100%: 47.4%" in table
    for raw in ("max_drawdown", "cagr", "0.2034", "regime 0", "None"):
        assert raw not in table


def test_a_run_shows_the_settings_it_used_in_the_reviews_words() -> None:
    table = profile_table(BotProfile.model_validate(example_profile()))
    assert "<th>Exposure per regime</th><td>regime 1: 0% · regime 2: 50% · regime 3: 100%" in table
    assert "<th>Training window</th><td>504 bars (rolling)</td>" in table
    assert "<th>Starting cash</th><td>$100,000.00</td>" in table
    assert "Broker account" not in table and "Notifications" not in table  # how a bot runs, not what it tests


def test_the_equity_axis_is_in_dollars_not_scientific_notation() -> None:
    records = [
        {"bar": {"date": f"2020-01-0{i}", "close": 100.0 + i}, "equity": 108_000.0 + i, "regime": 0} for i in (1, 2)
    ]
    figure = report_figure(records, [0.0, 1.0])
    assert figure.yaxis[0].formatter.format == fmt.MONEY_TICKS


def test_the_wizard_form_round_trips_a_profile_and_changes_only_what_it_owns() -> None:
    for body in (example_profile(), example_portfolio() | {"broker": {"connection": "paper"}}):
        form = ProfileForm()
        form.fill(BotProfile.model_validate(body))
        assert BotProfile.model_validate(edited(body, form.values())) == BotProfile.model_validate(body)
    body = example_profile() | {"strategy": {"exposure_per_regime": [0.0, 0.5, 1.0], "stop_loss_pct": 5}}
    form = ProfileForm()
    form.fill(BotProfile.model_validate(body))
    form.widgets["training_window"].value = 300
    form.widgets["stop_loss_pct"].value = ""
    changed = edited(body, form.values())
    assert changed["model"]["training_window"] == 300
    assert "stop_loss_pct" not in changed["strategy"]  # emptied in the form: none, not the old 5%
    assert changed["basics"] == body["basics"]
