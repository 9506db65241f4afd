"""The profile's live-mode and broker-data validators, and the account-fit rules, on their own."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.brokers import env_keys
from contracts.profile import LIVE_CONFIRMATION, Basics, BotProfile, Market
from contracts.venue_rules import UNKNOWN_ACCOUNT, venue_problems
from tests.conftest import VALID_PROFILE

CONNECTION = str(uuid.uuid4())


def profile(**sections: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(VALID_PROFILE)
    body["broker"] = {"connection": CONNECTION}
    body["market"] = {"symbols": ["SPY"], "bar_interval": "5m", "data_source": "broker"}
    for name, fields in sections.items():
        body[name] = {**body[name], **fields}
    return body


def errors(model: type[Any], body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_live_mode_needs_the_exact_sentence() -> None:
    assert Basics(name="b", surface="local", mode="live", live_confirmation=LIVE_CONFIRMATION).mode == "live"
    for typed in (None, "", LIVE_CONFIRMATION.upper(), LIVE_CONFIRMATION + "!"):
        [(where, msg)] = errors(Basics, {"name": "b", "surface": "local", "mode": "live", "live_confirmation": typed})
        assert where == "live_confirmation" and f"type exactly '{LIVE_CONFIRMATION}'" in msg


def test_a_paper_bot_keeps_no_confirmation() -> None:
    basics = Basics(name="b", surface="local", mode="paper", live_confirmation=LIVE_CONFIRMATION)
    assert basics.live_confirmation is None


def test_broker_crypto_symbols_are_pairs_and_broker_stocks_plain_tickers() -> None:
    assert Market(symbols=["btc/usd", "ETH/USDT"], asset_class="crypto", data_source="broker").symbols == [
        "BTC/USD",
        "ETH/USDT",
    ]
    assert Market(symbols=["SPY", "BRK.B"], data_source="broker").symbols == ["SPY", "BRK.B"]
    [(where, msg)] = errors(
        Market, {"symbols": ["BTC/USD", "BTC-USD"], "asset_class": "crypto", "data_source": "broker"}
    )
    assert where == "symbols" and msg.startswith("BTC-USD: ") and "BASE/QUOTE" in msg
    [(where, msg)] = errors(Market, {"symbols": ["ETH/USD"], "data_source": "broker"})
    assert where == "symbols" and "plain tickers" in msg
    # replayed data keeps its looser spelling
    assert Market(symbols=["BTC-USD"], asset_class="crypto", data_source="file", data_file="x.csv").symbols == [
        "BTC-USD"
    ]


@pytest.mark.parametrize(
    ("changes", "where", "says"),
    [
        ({"strategy": {"exposure_per_regime": [0, 1]}}, "strategy.exposure_per_regime", "one exposure per regime"),
        (
            {"basics": {"mode": "live", "live_confirmation": LIVE_CONFIRMATION}, "broker": {"connection": "paper"}},
            "basics.mode",
            "needs a broker connection",
        ),
        (
            {
                "basics": {"mode": "live", "live_confirmation": LIVE_CONFIRMATION},
                "market": {"data_source": "sp500", "bar_interval": "1d"},
            },
            "market.data_source",
            "replayed historical data",
        ),
        (
            {"market": {"symbols": ["BTC/USD"], "data_source": "file", "data_file": "bars.csv", "bar_interval": "1d"}},
            "market.symbols",
            "'/'",
        ),
    ],
)
def test_checks_across_steps_name_the_field_to_change(changes: dict[str, Any], where: str, says: str) -> None:
    [(found, msg)] = errors(BotProfile, profile(**changes))
    assert found == where and says in msg


def _bot(**sections: dict[str, Any]) -> BotProfile:
    return BotProfile.model_validate(profile(**sections))


def test_account_rules() -> None:
    stock = _bot()
    crypto = _bot(market={"symbols": ["BTC/USDT"], "asset_class": "crypto"})
    live = {"mode": "live", "live_confirmation": LIVE_CONFIRMATION}
    assert venue_problems(stock, kind="alpaca", paper=True, exchange=None) == []
    assert venue_problems(crypto, kind="exchange", paper=True, exchange="binance") == []
    assert [p.field for p in venue_problems(stock, kind="exchange", paper=True, exchange="kraken")] == [
        "market.asset_class"
    ]
    [mode] = venue_problems(_bot(basics=live), kind="alpaca", paper=True, exchange=None)
    assert mode.field == "basics.mode" and mode.msg.startswith("this connection is an Alpaca paper account")
    [mode] = venue_problems(crypto, kind="exchange", paper=False, exchange="kraken")
    assert mode.field == "basics.mode" and "a kraken exchange live account" in mode.msg
    [unknown] = venue_problems(stock, kind="alpaca", paper=None, exchange=None)
    assert unknown.msg == UNKNOWN_ACCOUNT
    assert [p.field for p in venue_problems(stock, kind="paper", paper=None, exchange=None)] == ["broker.connection"]


def test_env_keys_follow_the_credential_fields() -> None:
    assert env_keys("alpaca") == (["BROKER_API_KEY_ID", "BROKER_API_SECRET_KEY", "BROKER_PAPER"], [])
    assert env_keys("exchange") == (
        ["BROKER_EXCHANGE", "BROKER_API_KEY", "BROKER_API_SECRET"],
        ["BROKER_PASSPHRASE", "BROKER_SANDBOX"],
    )
