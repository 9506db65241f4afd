"""A portfolio profile: up to 20 symbols, one model on a reference series or one per symbol, capital
weights. Each wrong combination is refused at the field a trader must change, saying what to do."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.profile import BotProfile, Market
from tests.conftest import VALID_PROFILE
from trader.config import engine_config


def profile(**sections: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(VALID_PROFILE)
    for name, fields in sections.items():
        body[name] = {**body.get(name, {}), **fields}
    return body


def refused(body: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        BotProfile.model_validate(body)
    [error] = caught.value.errors()
    return error["loc"], error["msg"].removeprefix("Value error, ")


BUNDLED_PAIR = {"symbols": ["SPY", "QQQ"], "data_source": "bundled"}


def test_a_bundled_portfolio_trades_both_series_with_equal_weights_and_the_first_as_reference() -> None:
    config = engine_config(BotProfile.model_validate(profile(market=BUNDLED_PAIR)), bot_id="b")
    assert config.universe == ("SPY", "QQQ") and config.is_portfolio
    assert config.model_symbols == ("SPY",)
    assert [config.weight(s) for s in config.universe] == [0.5, 0.5]


def test_the_chosen_scope_reference_and_weights_reach_the_engine() -> None:
    body = profile(
        market=BUNDLED_PAIR,
        model={"scope": "reference", "reference_symbol": "qqq"},
        strategy={"weights": [0.6, 0.3]},
    )
    config = engine_config(BotProfile.model_validate(body), bot_id="b")
    assert config.model_symbols == ("QQQ",) and config.model_of("SPY") == "QQQ"
    assert (config.weight("SPY"), config.weight("QQQ")) == (0.6, 0.3)
    per_symbol = engine_config(
        BotProfile.model_validate(profile(market=BUNDLED_PAIR, model={"scope": "per_symbol"})), bot_id="b"
    )
    assert per_symbol.model_symbols == ("SPY", "QQQ") and per_symbol.model_of("QQQ") == "QQQ"


def test_a_one_symbol_profile_stays_a_one_symbol_engine() -> None:
    config = engine_config(BotProfile.model_validate(profile()), bot_id="b")
    assert config.symbols == () and config.universe == ("SPY",) and not config.is_portfolio


def test_a_reference_series_outside_the_symbols_is_refused_at_reference_symbol() -> None:
    loc, msg = refused(profile(market=BUNDLED_PAIR, model={"reference_symbol": "IWM"}))
    assert loc == ("model", "reference_symbol")
    assert msg == (
        "reference series IWM is not one of the bot's symbols (SPY, QQQ): "
        "pick one of them or leave it empty for the first"
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (
            [0.5],
            "1 weights for 2 symbols: give one weight per symbol, in the order SPY, QQQ, or leave weights empty "
            "for equal weights",
        ),
        ([0.7, 0.6], "weights add up to 1.3 (0.7 + 0.6): they may add up to at most 1"),
    ],
)
def test_weights_that_do_not_fit_the_symbols_or_the_account_are_refused_at_weights(
    weights: list[float], message: str
) -> None:
    loc, msg = refused(profile(market=BUNDLED_PAIR, strategy={"weights": weights}))
    assert loc[:2] == ("strategy", "weights") and msg == message


def test_a_negative_weight_is_refused_at_its_place_in_the_list() -> None:
    loc, msg = refused(profile(market=BUNDLED_PAIR, strategy={"weights": [-0.1, 0.5]}))
    assert loc == ("strategy", "weights", 0) and "greater than or equal to 0" in msg


def test_weights_that_add_up_to_one_in_decimal_are_accepted() -> None:
    symbols = [f"S{i}" for i in range(10)]
    body = profile(
        market={"symbols": symbols, "data_source": "broker"},
        strategy={"weights": [0.1] * 10},  # 1.0000000000000002 in binary
    )
    assert BotProfile.model_validate(body).strategy.weights == [0.1] * 10


def test_the_bundled_source_holds_spy_and_qqq_only() -> None:
    loc, msg = refused(profile(market={"symbols": ["SPY", "IWM"], "data_source": "bundled"}))
    assert loc == ("market", "symbols")
    assert (
        msg == "IWM: the bundled data holds SPY (S&P 500) and QQQ (NASDAQ) only; "
        "pick data 'broker' or 'file' for other symbols"
    )


def test_both_bundled_symbols_on_one_series_point_to_the_bundled_source() -> None:
    loc, msg = refused(profile(market={"symbols": ["SPY", "QQQ"], "data_source": "sp500"}))
    assert loc == ("market", "symbols")
    assert msg == (
        "'QQQ' is not in the sp500 data source, which holds SPY only; pick data 'bundled' (SPY and QQQ together) "
        "to trade it"
    )


def test_several_symbols_from_files_need_a_file_per_symbol() -> None:
    local = {"surface": "local"}
    loc, msg = refused(
        profile(basics=local, market={"symbols": ["SPY", "IWM"], "data_source": "file", "data_file": "bars.csv"})
    )
    assert loc == ("market", "data_file")
    assert msg == (
        "2 symbols need one file each: put {symbol} in the path where the symbol's name goes, e.g. data/{symbol}.csv"
    )
    market = Market(symbols=["SPY", "BTC/USD"], data_source="file", data_file="data/{symbol}.csv")
    assert market.files() == {"SPY": "data/SPY.csv", "BTC/USD": "data/BTC-USD.csv"}
    assert Market(symbols=["SPY"], data_source="file", data_file="spy.csv").files() == {"SPY": "spy.csv"}


def test_a_live_bot_cannot_trade_the_bundled_replay() -> None:
    loc, _ = refused(
        profile(
            basics={"mode": "live", "live_confirmation": "I understand this bot trades real money"},
            broker={"connection": "0b9c6c4e-7f53-4a8f-9b7c-7d0f6c1a2b3c"},
            market=BUNDLED_PAIR,
        )
    )
    assert loc == ("market", "data_source")


def test_twenty_symbols_is_the_most_a_bot_trades() -> None:
    twenty = [f"S{i}" for i in range(20)]
    assert (
        len(BotProfile.model_validate(profile(market={"symbols": twenty, "data_source": "broker"})).market.symbols)
        == 20
    )
    loc, msg = refused(profile(market={"symbols": [*twenty, "S20"], "data_source": "broker"}))
    assert loc == ("market", "symbols") and "at most 20" in msg


def test_the_example_portfolio_is_a_valid_profile_of_two_bundled_symbols() -> None:
    body = json.loads((Path(__file__).parents[2] / "examples" / "portfolio.json").read_text())
    config = engine_config(BotProfile.model_validate(body), bot_id="b")
    assert config.universe == ("SPY", "QQQ") and config.model_symbols == ("SPY",) and config.weights == (0.6, 0.4)


def test_weights_for_a_single_symbol_are_refused_rather_than_ignored() -> None:
    loc, msg = refused(profile(strategy={"weights": [0.5]}))
    assert loc == ("strategy", "weights")
    assert msg.startswith("weights share the account between the symbols of a portfolio: with one symbol leave them")
