"""A local bot on broker data is refused at create unless config/instances/.env names its broker
and that broker's keys (the missing names are listed, never a value), and the account fits."""

from __future__ import annotations

import copy
from typing import Any

from agent.broker_env import account_is_paper, local_broker_problems
from contracts.profile import BotProfile
from tests.conftest import VALID_PROFILE

ALPACA_ENV = {
    "BROKER_KIND": "alpaca",
    "BROKER_API_KEY_ID": "AKID-SECRET-VALUE",
    "BROKER_API_SECRET_KEY": "s3cret",
    "BROKER_PAPER": "true",
}


def bot(**market: Any) -> BotProfile:
    body = copy.deepcopy(VALID_PROFILE)
    body["market"] = {"symbols": ["SPY"], "bar_interval": "1h", "data_source": "broker", **market}
    return BotProfile.model_validate(body)


def test_a_complete_paper_alpaca_env_passes_and_replay_bots_are_not_checked() -> None:
    assert local_broker_problems(bot(), ALPACA_ENV) == []
    assert local_broker_problems(BotProfile.model_validate(VALID_PROFILE), {}) == []


def test_missing_kind_and_missing_keys_are_named_without_values() -> None:
    [line] = local_broker_problems(bot(), {})
    assert "BROKER_KIND is missing" in line and "alpaca or exchange" in line
    partial = {k: v for k, v in ALPACA_ENV.items() if k != "BROKER_API_SECRET_KEY"}
    [line] = local_broker_problems(bot(), {**partial, "BROKER_PAPER": ""})
    assert line.endswith("lacks BROKER_API_SECRET_KEY, BROKER_PAPER")
    assert "AKID-SECRET-VALUE" not in line and "s3cret" not in line
    [line] = local_broker_problems(bot(), {"BROKER_KIND": "ibkr"})
    assert "BROKER_KIND is 'ibkr'" in line


def test_the_account_rules_apply_to_the_env() -> None:
    [line] = local_broker_problems(bot(), {**ALPACA_ENV, "BROKER_PAPER": "false"})
    assert line.startswith("basics.mode: this connection is an Alpaca live account")
    [line] = local_broker_problems(bot(), {**ALPACA_ENV, "BROKER_PAPER": "maybe"})
    assert "BROKER_PAPER" in line and "true" in line
    exchange = {"BROKER_KIND": "exchange", "BROKER_EXCHANGE": "kraken", "BROKER_API_KEY": "k", "BROKER_API_SECRET": "s"}
    lines = local_broker_problems(bot(), {**exchange, "BROKER_SANDBOX": "true"})
    assert [line.split(":")[0] for line in lines] == ["market.asset_class"]
    crypto = bot(symbols=["BTC/USDT"], asset_class="crypto")
    assert local_broker_problems(crypto, {**exchange, "BROKER_SANDBOX": "true"}) == []
    assert account_is_paper(exchange) is False  # no sandbox flag: a real account
    [line] = local_broker_problems(crypto, exchange)
    assert line.startswith("basics.mode: this connection is a kraken exchange live account")


def test_a_live_bot_wears_a_live_badge_on_the_bots_page_and_the_cloud_table() -> None:
    from agent.dashboard.bots import _row_html
    from agent.dashboard.cloud import bots_table

    summary: dict[str, Any] = {"bot_id": "b" * 36, "name": "Real", "status": "running", "reason": "", "restarts": 0}
    summary.update({"health": "healthy", "regime": None, "confidence": None, "equity": None, "pnl": None, "ticks": 0})
    live = _row_html({**summary, "mode": "live"})
    paper = _row_html({**summary, "mode": "paper"})
    assert 'data-mode="live"' in live and ">LIVE</span>" in live
    assert 'data-mode="paper"' in paper and "LIVE" not in paper
    cloud = {"id": "c" * 36, "name": "Hosted", "surface": "hosted", "status": "running", "status_reason": None}
    assert ">LIVE</span>" in bots_table([{**cloud, "mode": "live"}])
    assert "LIVE" not in bots_table([{**cloud, "mode": "paper"}])
