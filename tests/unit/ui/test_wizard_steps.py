"""The wizard's steps on plain form values: what each step refuses, in which words, at which
field, and the review a trader reads before deploying."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.profile import BotProfile
from ui.wizard_steps import (
    BUILT_IN,
    REVIEW_STEP,
    connection_choices,
    local_problems,
    profile_body,
    profile_connection,
    review_rows,
    section,
    step_title,
)
from ui.wizard_words import Problem, cloud_problems, hosted_refusal, plain, problem

FORM: dict[str, Any] = {
    "name": "My first regime bot",
    "surface": "local",
    "mode": "paper",
    "live_confirmation": "",
    "connection": "paper",
    "symbols": "SPY",
    "bar_interval": "1d",
    "asset_class": "stock",
    "data_source": "sp500",
    "data_file": "",
    "n_states": 3,
    "auto_states": False,
    "features": ["log_return", "realized_vol"],
    "training_window": 504,
    "refit_every": 21,
    "min_persistence": 3,
    "prob_threshold": 0.6,
    "exposure_per_regime": "0, 0.5, 1",
    "max_position_pct": 100,
    "max_daily_loss_pct": 3,
    "max_drawdown_pct": 20,
    "rearm": "calm",
    "rearm_calm_bars": 10,
    "stop_loss_pct": "",
    "rebalance_band_pct": 10,
    "min_hold_bars": 0,
    "run": "after_close",
    "timezone": "America/New_York",
    "starting_cash": 100_000,
}


def form(**changes: Any) -> dict[str, Any]:
    return {**FORM, **changes}


def lines(step: int, **changes: Any) -> list[str]:
    return [str(p) for p in local_problems(step, form(**changes))]


def test_the_default_form_passes_every_step_and_makes_a_profile() -> None:
    for step in range(1, REVIEW_STEP):
        assert local_problems(step, FORM) == [], step
    profile = BotProfile.model_validate(profile_body(FORM))
    assert profile.market.symbols == ["SPY"] and profile.strategy.exposure_per_regime == [0.0, 0.5, 1.0]


def test_the_step_count_names_the_review_as_the_seventh_step() -> None:
    assert [step_title(n) for n in (1, 6, 7)] == ["Step 1 of 7: Basics", "Step 6 of 7: Schedule", "Step 7 of 7: Review"]


def test_a_symbol_the_data_source_does_not_hold_is_refused_at_step_3_naming_the_field() -> None:
    assert lines(3, symbols="QQQ") == [
        "Symbols: 'QQQ' is not in the sp500 data source, which holds SPY only; pick data 'nasdaq' or 'broker' "
        "to trade it"
    ]
    assert lines(3, symbols="QQQ", data_source="nasdaq") == []
    assert lines(3, symbols="QQQ", data_source="broker") == []


def test_exposures_that_do_not_match_the_regimes_are_refused_at_step_5() -> None:
    assert lines(4, n_states=4) == []  # step 5 is not filled in yet: nothing to blame
    assert lines(5, n_states=4) == [
        "Exposure per regime: 3 exposures for 4 regimes: give one exposure per regime, most volatile regime first"
    ]
    assert lines(5, n_states=4, exposure_per_regime="0, 0.3, 0.6, 1") == []


def test_a_live_bot_on_the_paper_simulator_is_refused_once_step_2_is_chosen() -> None:
    live = {"mode": "live", "live_confirmation": "I understand this bot trades real money"}
    assert lines(1, **live) == []
    [line] = lines(2, **live)
    assert line.startswith("Mode: a live bot needs a broker connection")


def test_errors_are_plain_words_after_the_field_label_never_pydantic_text() -> None:
    assert lines(1, name="bad<name>") == [
        "Bot name: name may contain only letters, digits, spaces and . , & ' + # / ( ) - _"
    ]
    assert lines(4, n_states=9) == [
        "Regimes: use a number of regimes from 2 to 6, or 'auto' to choose at each refit (got 9)"
    ]
    assert lines(4, n_states=5, training_window=120) == [
        "Training window: 120 bars is too short for 5 regimes: use at least 150 bars"
    ]
    assert lines(5, exposure_per_regime="0, 2, 1") == ["Exposure per regime: value 2: at most 1"]
    assert lines(5, exposure_per_regime="0, half, 1") == [
        "Exposure per regime: write numbers separated by commas, e.g. 0, 0.5, 1"
    ]
    assert lines(5, stop_loss_pct="ten") == ["Stop loss: a number, or empty for none"]
    assert lines(3, symbols="") == ["Symbols: give at least 1, not 0"]
    assert lines(3, data_source="file") == ["Bar file: required when data is 'file'"]
    for line in lines(1, name="") + lines(4, n_states=9) + lines(6, timezone="Mars/Base"):
        assert "Value error" not in line and "Input should" not in line, line


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("Value error, review the settings", "review the settings"),
        ("Input should be greater than 0", "more than 0"),
        ("Input should be 'paper' or 'live'", "choose 'paper' or 'live'"),
        ("Input should be a valid integer, unable to parse string as an integer", "write a whole number"),
        ("data_file is only used when data_source is 'file'", "bar file is only used when data is 'file'"),
    ],
)
def test_plain_words(message: str, words: str) -> None:
    assert plain(message) == words


def test_the_clouds_field_errors_are_worded_and_placed_the_same_way() -> None:
    [symbols, window, whole] = cloud_problems(
        [
            {"field": "symbols", "msg": "Value error, 'S P Y' is not a ticker"},
            {"field": "training_window", "msg": "Input should be greater than or equal to 100"},
            {"field": "body", "msg": "something about the step"},
        ]
    )
    assert (symbols.field, str(symbols), symbols.by_cloud) == ("symbols", "Symbols: 'S P Y' is not a ticker", True)
    assert str(window) == "Training window: at least 100"
    assert (whole.field, str(whole)) == (None, "something about the step")
    assert problem(("strategy", "exposure_per_regime", 0), "x") == Problem("exposure_per_regime", "value 1: x")


def test_step_6_asks_no_confirmation_the_review_does() -> None:
    assert section(6, FORM)["confirmed"] is True
    assert lines(6) == []


def test_the_picked_account_becomes_the_profiles_connection() -> None:
    connection = "0b5a7c1e-0000-4000-8000-000000000001"
    assert profile_connection("paper") == "paper"
    assert profile_connection(connection.upper()) == connection
    assert profile_connection("local-env") == "paper"  # a host's own choice keeps its keys out of the profile


def test_the_step_2_picker_lists_the_accounts_connections_after_the_built_in_broker() -> None:
    options = connection_choices(
        [
            {"id": "0b5a7c1e-0000-4000-8000-000000000001", "kind": "alpaca", "label": "Mine", "paper": True},
            {"id": "0b5a7c1e-0000-4000-8000-000000000002", "kind": "exchange", "label": "K", "paper": False,
             "exchange": "kraken"},
            {"id": "0b5a7c1e-0000-4000-8000-000000000003", "kind": "alpaca", "label": "Old", "paper": None},
        ]
    )  # fmt: skip
    assert list(options) == [
        BUILT_IN,
        "Mine (alpaca, paper) · 0b5a7c1e",
        "K (exchange kraken, LIVE) · 0b5a7c1e",
        "Old (alpaca, reconnect: paper or live?) · 0b5a7c1e",
    ]
    assert options[BUILT_IN] == "paper"


def test_the_review_is_a_table_of_settings_a_trader_reads() -> None:
    profile = BotProfile.model_validate(profile_body(form(stop_loss_pct="5", n_states=3)))
    rows = {label: value for _step, label, value in review_rows(profile, connection_label=BUILT_IN)}
    assert rows["Broker account"] == BUILT_IN
    assert rows["Exposure per regime"] == "regime 1: 0% · regime 2: 50% · regime 3: 100% (most volatile regime first)"
    assert rows["Probability threshold"] == "60%"
    assert rows["Max drawdown"] == "20% below peak: flatten, then re-arm"
    assert rows["Stop loss"] == "5%"
    assert rows["Starting cash"] == "$100,000.00"
    assert rows["Training window"] == "504 bars (rolling)"
    assert all("[" not in value and "Array" not in value for value in rows.values())


def test_the_plan_check_names_the_field_and_what_to_do() -> None:
    free = {"plan": "free", "limits": {"hosted_allowed": False, "max_hosted_bots": 0}, "usage": {"hosted_bots": 0}}
    [line] = hosted_refusal(free)
    assert line.startswith("Runs on: your free plan runs bots on your own machine only") and "Choose 'local'" in line
    full = {"plan": "pro", "limits": {"hosted_allowed": True, "max_hosted_bots": 3}, "usage": {"hosted_bots": 3}}
    assert "allows 3 hosted bots and you have 3" in hosted_refusal(full)[0]


def test_auto_regimes_take_an_exposure_curve_of_any_length() -> None:
    assert lines(4, auto_states=True) == []
    assert lines(5, auto_states=True, exposure_per_regime="0, 1") == []
    profile = BotProfile.model_validate(profile_body(form(auto_states=True, exposure_per_regime="0, 0.5, 1")))
    assert profile.model.n_states == "auto"
    rows = {label: value for _, label, value in review_rows(profile)}
    assert rows["Regimes"] == "auto: 2-4, chosen at each refit (BIC)"


def test_the_review_says_how_a_halt_re_arms_and_how_trades_are_rationed() -> None:
    rows = {label: value for _, label, value in review_rows(BotProfile.model_validate(profile_body(form())))}
    assert rows["Re-arm after a halt"] == "calm: after 10 calm bars in a low-volatility regime"
    assert rows["No-trade band"] == "trade only when the target moves more than 10% of equity"
    manual = BotProfile.model_validate(profile_body(form(rearm="manual", rebalance_band_pct=0, min_hold_bars=5)))
    rows = {label: value for _, label, value in review_rows(manual)}
    assert rows["Re-arm after a halt"] == "manual: when you re-arm it from the dashboard or the API"
    assert rows["No-trade band"] == "rebalance every bar"
    assert rows["Minimum holding time"] == "5 bars between trades (exits excepted)"


def test_a_bad_re_arm_or_band_is_named_at_its_field() -> None:
    assert lines(5, rearm_calm_bars=0) == ["Calm bars to re-arm: at least 1"]
    assert lines(5, rebalance_band_pct=150) == ["No-trade band: at most 100"]
    assert lines(5, rearm="never") == ["Re-arm after a halt: choose 'calm', 'new_high' or 'manual'"]
