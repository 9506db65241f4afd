"""A bundled daily series holds one symbol: the profile refuses any other on it, so neither the
wizard nor the API can create a bot that trades the S&P 500 under QQQ's name."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.profile import BUNDLED_SYMBOLS, BotProfile, Market
from tests.conftest import VALID_PROFILE


def market_errors(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        Market.model_validate(fields)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


@pytest.mark.parametrize(("source", "symbol"), sorted(BUNDLED_SYMBOLS.items()))
def test_each_bundled_source_takes_its_own_symbol(source: str, symbol: str) -> None:
    assert Market(symbols=[symbol.lower()], data_source=source).symbols == [symbol]


def test_a_symbol_the_source_does_not_hold_is_refused_naming_it_and_what_to_pick() -> None:
    [(field, msg)] = market_errors(symbols=["QQQ"], data_source="sp500")
    assert field == "symbols"
    assert msg == (
        "'QQQ' is not in the sp500 data source, which holds SPY only; pick data 'nasdaq' or 'broker' to trade it"
    )
    [(_, msg)] = market_errors(symbols=["AAPL"], data_source="nasdaq")
    assert msg == "'AAPL' is not in the nasdaq data source, which holds QQQ only; pick data 'broker' to trade it"


def test_a_second_symbol_on_a_bundled_source_is_refused() -> None:
    [(field, msg)] = market_errors(symbols=["SPY", "IWM"], data_source="sp500")
    assert field == "symbols" and msg.startswith("'IWM' is not in the sp500 data source")


def test_other_sources_take_any_ticker() -> None:
    assert Market(symbols=["QQQ", "IWM"], data_source="broker").symbols == ["QQQ", "IWM"]
    assert Market(symbols=["SPX"], data_source="file", data_file="bars.csv").symbols == ["SPX"]


def test_a_whole_profile_is_refused_at_market_symbols() -> None:
    body = copy.deepcopy(VALID_PROFILE)
    body["market"]["symbols"] = ["QQQ"]
    with pytest.raises(ValidationError) as caught:
        BotProfile.model_validate(body)
    assert [e["loc"] for e in caught.value.errors()] == [("market", "symbols")]
