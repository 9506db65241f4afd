"""The wizard's portfolio fields on plain form values: several symbols make a portfolio whose
scope and weights reach the profile, errors are worded in the trader's units at their field,
and the review says whose regime sets the exposure and how the capital is split."""

from __future__ import annotations

from typing import Any

from contracts.profile import BotProfile
from tests.unit.ui.test_wizard_steps import FORM, form
from ui.wizard_portfolio import file_hint, symbols_of, weights_of
from ui.wizard_steps import local_problems, profile_body, review_rows, section

PAIR: dict[str, Any] = {"symbols": "SPY, QQQ", "data_source": "bundled"}


def lines(step: int, **changes: Any) -> list[str]:
    return [str(p) for p in local_problems(step, form(**changes))]


def review(**changes: Any) -> dict[str, str]:
    profile = BotProfile.model_validate(profile_body(form(**changes)))
    return {label: value for _step, label, value in review_rows(profile)}


def test_symbols_are_separated_by_commas_or_spaces() -> None:
    assert symbols_of("SPY, QQQ") == symbols_of("SPY QQQ") == symbols_of(" SPY ,QQQ ") == ["SPY", "QQQ"]
    assert section(3, form(symbols="spy qqq"))["symbols"] == ["spy", "qqq"]  # the profile upper-cases them


def test_a_bundled_pair_passes_every_step_with_equal_weights_on_a_reference_model() -> None:
    for step in range(1, 7):
        assert lines(step, **PAIR) == [], step
    profile = BotProfile.model_validate(profile_body(form(**PAIR)))
    assert profile.market.symbols == ["SPY", "QQQ"] and profile.market.data_source == "bundled"
    assert (profile.model.scope, profile.model.reference_symbol, profile.strategy.weights) == ("reference", None, None)


def test_a_symbol_the_bundled_data_lacks_is_refused_at_step_3() -> None:
    [line] = lines(3, symbols="SPY, IWM", data_source="bundled")
    assert line.startswith("Symbols: IWM: the bundled data holds SPY (S&P 500) and QQQ (NASDAQ) only")


def test_one_symbol_sends_no_portfolio_fields_even_when_the_form_holds_some() -> None:
    leftovers = {"scope": "per_symbol", "reference_symbol": "QQQ", "weights": "70, 30"}
    body = profile_body(form(**leftovers))
    assert body["model"].keys() == profile_body(FORM)["model"].keys()
    assert "weights" not in body["strategy"]
    assert lines(4, **leftovers) == lines(5, **leftovers) == []


def test_scope_and_reference_reach_the_profile_and_a_foreign_reference_is_refused_at_its_field() -> None:
    profile = BotProfile.model_validate(profile_body(form(**PAIR, reference_symbol="QQQ")))
    assert (profile.model.scope, profile.model.reference_symbol) == ("reference", "QQQ")
    per_symbol = BotProfile.model_validate(profile_body(form(**PAIR, scope="per_symbol", reference_symbol="QQQ")))
    assert (per_symbol.model.scope, per_symbol.model.reference_symbol) == ("per_symbol", None)
    [problem] = local_problems(4, form(**PAIR, reference_symbol="IWM"))
    assert problem.field == "reference_symbol"
    assert str(problem).startswith("Reference series: reference series IWM is not one of the bot's symbols (SPY, QQQ)")


def test_weights_are_percentages_in_symbol_order_and_equal_by_default() -> None:
    assert weights_of("equal") is None and weights_of("") is None and weights_of(" Equal ") is None
    assert weights_of("60, 40") == weights_of("60%, 40%") == [0.6, 0.4]
    profile = BotProfile.model_validate(profile_body(form(**PAIR, weights="60, 30")))
    assert profile.strategy.weights == [0.6, 0.3]


def test_bad_weights_are_named_at_their_field_in_percentages() -> None:
    assert lines(5, **PAIR, weights="60, 50") == [
        "Capital weights: they add up to 110% (60% + 50%): at most 100%, the rest stays in cash"
    ]
    assert lines(5, **PAIR, weights="120, 0") == ["Capital weights: value 1: 120% is not between 0% and 100%"]
    assert lines(5, **PAIR, weights="sixty, forty") == [
        "Capital weights: write 'equal', or one percentage per symbol separated by commas, e.g. 60, 40"
    ]
    [problem] = local_problems(5, form(**PAIR, weights="50, 30, 20"))
    assert problem.field == "weights"
    assert problem.message.startswith("3 weights for 2 symbols: give one weight per symbol, in the order SPY, QQQ")


def test_several_files_ask_for_the_symbol_placeholder() -> None:
    files = {"symbols": "AAA, BBB", "data_source": "file"}
    [problem] = local_problems(3, form(**files, data_file="data/bars.csv"))
    assert problem.field == "data_file" and "put {symbol} in the path" in problem.message
    assert lines(3, **files, data_file="data/{symbol}.csv") == []
    assert "{symbol}" in file_hint(form(**files)) and "{symbol}" not in file_hint(FORM)


def test_the_review_says_whose_regime_sets_the_exposure_and_lists_the_weights() -> None:
    rows = review(**PAIR)
    assert rows["Regime read from"] == "one model on SPY sets every symbol's exposure"
    assert rows["Capital weights"] == "equal: SPY 50% · QQQ 50%"
    assert rows["Data"] == "bundled: S&P 500 + NASDAQ (SPY, QQQ)"
    rows = review(**PAIR, scope="per_symbol", weights="60, 30")
    assert rows["Regime read from"] == "a model per symbol (SPY, QQQ), each on its own series"
    assert rows["Capital weights"] == "SPY 60% · QQQ 30% · 10% stays in cash"
    assert review(**PAIR, reference_symbol="QQQ")["Regime read from"] == "one model on QQQ sets every symbol's exposure"


def test_a_one_symbol_review_has_no_portfolio_rows() -> None:
    rows = review()
    assert "Regime read from" not in rows and "Capital weights" not in rows
    assert rows["Data"] == "sp500"
