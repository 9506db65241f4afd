"""Bots on broker connections through the API: the connection's non-secret facts are stored at
connect, and a bot is refused (naming the field, nothing published) unless its connection
exists, is the caller's, and fits its asset class, symbols and paper/live mode."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from contracts.profile import LIVE_CONFIRMATION
from contracts.venue_rules import UNKNOWN_ACCOUNT
from store.migrate import load_migrations
from tests.busutil import count_on_subject
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login
from tests.vaultutil import alpaca, connect


def exchange(*, sandbox: bool | None = None, name: str = "binance") -> dict[str, Any]:
    credentials: dict[str, Any] = {"exchange": name, "api_key": "ex-key", "api_secret": "ex-secret"}
    if sandbox is not None:
        credentials["sandbox"] = sandbox
    return {"kind": "exchange", "label": f"My {name}", "credentials": credentials}


def live_alpaca() -> dict[str, Any]:
    body = alpaca(label="Alpaca live")
    body["credentials"]["paper"] = False
    return body


def broker_profile(connection: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """VALID_PROFILE trading an hourly SPY feed from ``connection``; ``sections`` update fields per section."""
    profile = copy.deepcopy(VALID_PROFILE)
    profile["broker"] = {"connection": connection}
    profile["market"] = {"symbols": ["SPY"], "bar_interval": "1h", "asset_class": "stock", "data_source": "broker"}
    for name, fields in sections.items():
        profile[name] = {**profile[name], **fields}
    return profile


CRYPTO = {"symbols": ["BTC/USDT"], "asset_class": "crypto", "bar_interval": "15m"}
LIVE = {"mode": "live", "live_confirmation": LIVE_CONFIRMATION}


async def bot_names(api: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    response = await api.get("/api/v1/bots", headers=auth)
    assert response.status_code == 200
    return [b["name"] for b in response.json()["bots"]]


async def assert_refused(
    api: httpx.AsyncClient, auth: dict[str, str], bus: Any, profile: dict[str, Any], field: str, says: str
) -> dict[str, Any]:
    """Create and whole-profile validate both answer 422 naming ``field``; no bot, no intent."""
    before = await bot_names(api, auth)
    created_before = await count_on_subject(bus.js, "INTENTS", "intents.bot.create")
    for path, params in (("/api/v1/bots", {}), ("/api/v1/bots/validate", {})):
        response = await api.post(path, json=profile, params=params, headers=auth)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert field in problem["detail"], problem
        assert any(e["field"] == field and says in e["msg"] for e in problem["errors"]), problem["errors"]
    assert await bot_names(api, auth) == before
    assert await count_on_subject(bus.js, "INTENTS", "intents.bot.create") == created_before
    return dict(problem)


async def create(api: httpx.AsyncClient, auth: dict[str, str], profile: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert response.status_code == 202, response.text
    assert (await intent_settled(api, auth, response.json()["intent_id"]))["status"] == "done"
    bot = await api.get(f"/api/v1/bots/{response.json()['bot_id']}", headers=auth)
    assert bot.status_code == 200
    return dict(bot.json())


async def test_connect_records_paper_or_live_and_the_exchange_in_the_clear(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection
) -> None:
    ids = {
        "alpaca paper": await connect(api, auth, alpaca()),
        "alpaca live": await connect(api, auth, live_alpaca()),
        "binance": await connect(api, auth, exchange()),
        "binance testnet": await connect(api, auth, exchange(sandbox=True)),
        "simulator": await connect(api, auth, {"kind": "paper", "label": "Simulator"}),
    }
    rows = {
        name: await db.fetchrow("SELECT paper, exchange FROM broker_connections WHERE id = $1::uuid", connection)
        for name, connection in ids.items()
    }
    assert {name: (r["paper"], r["exchange"]) for name, r in rows.items()} == {
        "alpaca paper": (True, None),
        "alpaca live": (False, None),
        "binance": (False, "binance"),
        "binance testnet": (True, "binance"),
        "simulator": (True, None),
    }
    listed = (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]
    by_id = {c["id"]: (c["kind"], c["paper"], c["exchange"]) for c in listed}
    assert by_id[ids["alpaca live"]] == ("alpaca", False, None)
    assert by_id[ids["binance testnet"]] == ("exchange", True, "binance")
    assert "ex-secret" not in str(listed)


async def test_a_broker_data_stock_bot_on_alpaca_and_a_crypto_bot_on_an_exchange_are_created(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any
) -> None:
    paper_alpaca = await connect(api, auth, alpaca())
    stock = await create(api, auth, broker_profile(paper_alpaca, basics={"name": "SPY hourly"}))
    assert (stock["mode"], stock["connection_kind"], stock["profile"]["market"]["data_source"]) == (
        "paper",
        "alpaca",
        "broker",
    )
    alpaca_crypto = broker_profile(paper_alpaca, basics={"name": "BTC on Alpaca"}, market=CRYPTO)
    alpaca_crypto["market"]["symbols"] = ["BTC/USD", "ETH/USD"]
    assert (await create(api, auth, alpaca_crypto))["profile"]["market"]["symbols"] == ["BTC/USD", "ETH/USD"]

    live_exchange = await connect(api, auth, exchange())
    crypto = await create(api, auth, broker_profile(live_exchange, basics={"name": "BTC live", **LIVE}, market=CRYPTO))
    assert (crypto["mode"], crypto["connection_kind"]) == ("live", "exchange")
    assert crypto["profile"]["basics"]["live_confirmation"] == LIVE_CONFIRMATION
    listed = {
        b["name"]: (b["mode"], b["connection_kind"])
        for b in (await api.get("/api/v1/bots", headers=auth)).json()["bots"]
    }
    assert listed == {
        "SPY hourly": ("paper", "alpaca"),
        "BTC on Alpaca": ("paper", "alpaca"),
        "BTC live": ("live", "exchange"),
    }
    # the whole-profile check agrees with create
    ok = await api.post("/api/v1/bots/validate", json=broker_profile(paper_alpaca), headers=auth)
    assert ok.status_code == 200 and ok.json() == {"step": 0, "valid": True, "section": "BotProfile"}


async def test_broker_data_on_the_built_in_paper_broker_is_refused_naming_the_connection(
    api: httpx.AsyncClient, auth: dict[str, str], bus: Any
) -> None:
    problem = await assert_refused(api, auth, bus, broker_profile("paper"), "broker.connection", "Alpaca or exchange")
    assert problem["status"] == 422


async def test_another_users_connection_is_refused_exactly_like_a_missing_one(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any
) -> None:
    theirs = await connect(api, await signup_and_login(api), alpaca())
    missing = str(uuid.uuid4())
    foreign = await assert_refused(api, auth, bus, broker_profile(theirs), "broker.connection", "no broker connection")
    absent = await assert_refused(api, auth, bus, broker_profile(missing), "broker.connection", "no broker connection")
    assert foreign["detail"].replace(theirs, "ID") == absent["detail"].replace(missing, "ID")
    assert foreign["errors"][0]["msg"].replace(theirs, "ID") == absent["errors"][0]["msg"].replace(missing, "ID")
    # step 2 alone, with a token, says the same; without one it can only check the format
    step = await api.post("/api/v1/bots/validate", params={"step": 2}, json={"connection": theirs}, headers=auth)
    assert step.status_code == 422 and step.json()["errors"][0]["field"] == "broker.connection"
    anonymous = await api.post("/api/v1/bots/validate", params={"step": 2}, json={"connection": theirs})
    assert anonymous.status_code == 200
    whole = await api.post("/api/v1/bots/validate", json=broker_profile(theirs))
    assert whole.status_code == 401


async def test_a_revoked_connection_is_refused(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any
) -> None:
    connection = await connect(api, auth, alpaca())
    revoked = await api.delete(f"/api/v1/brokers/{connection}", headers=auth)
    assert (await intent_settled(api, auth, revoked.json()["intent_id"]))["status"] == "done"
    await assert_refused(api, auth, bus, broker_profile(connection), "broker.connection", "no broker connection")


async def test_a_stock_bot_on_an_exchange_connection_is_refused_naming_the_asset_class(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any
) -> None:
    connection = await connect(api, auth, exchange(sandbox=True))
    await assert_refused(api, auth, bus, broker_profile(connection), "market.asset_class", "crypto only")


@pytest.mark.parametrize(
    ("market", "says"),
    [
        ({"symbols": ["BTC-USD"], "asset_class": "crypto"}, "BASE/QUOTE"),
        ({"symbols": ["BTCUSD"], "asset_class": "crypto"}, "BASE/QUOTE"),
        ({"symbols": ["BTC/USD"], "asset_class": "stock"}, "plain tickers"),
        ({"symbols": ["SPY-W"], "asset_class": "stock"}, "plain tickers"),
    ],
)
async def test_broker_symbols_in_the_wrong_spelling_are_refused_naming_the_symbols(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any, market: dict[str, Any], says: str
) -> None:
    connection = await connect(api, auth, alpaca())
    await assert_refused(api, auth, bus, broker_profile(connection, market=market), "market.symbols", says)


async def test_live_mode_needs_the_typed_confirmation(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any
) -> None:
    connection = await connect(api, auth, live_alpaca())
    for typed in (None, LIVE_CONFIRMATION.lower(), "yes"):
        basics = {"mode": "live"} if typed is None else {"mode": "live", "live_confirmation": typed}
        problem = await assert_refused(
            api, auth, bus, broker_profile(connection, basics=basics), "basics.live_confirmation", LIVE_CONFIRMATION
        )
        assert "yes" not in problem["detail"]
    step = await api.post(
        "/api/v1/bots/validate", params={"step": 1}, json={"name": "x", "surface": "local", "mode": "live"}
    )
    assert step.status_code == 422 and step.json()["errors"][0]["field"] == "live_confirmation"
    assert (await create(api, auth, broker_profile(connection, basics=LIVE)))["mode"] == "live"


async def test_a_live_bot_on_a_paper_account_and_a_paper_bot_on_a_live_account_are_refused_naming_the_mode(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any
) -> None:
    paper_account = await connect(api, auth, alpaca())
    live_account = await connect(api, auth, live_alpaca())
    simulator = await connect(api, auth, {"kind": "paper", "label": "Simulator"})
    await assert_refused(
        api, auth, bus, broker_profile(paper_account, basics=LIVE), "basics.mode",
        "this connection is an Alpaca paper account; switch the bot to paper or pick a live connection",
    )  # fmt: skip
    await assert_refused(api, auth, bus, broker_profile(live_account), "basics.mode", "live account that trades real")
    replay_on_simulator = {
        **VALID_PROFILE,
        "broker": {"connection": simulator},
        "basics": {**VALID_PROFILE["basics"], **LIVE},
    }
    replay_on_simulator["market"] = {**VALID_PROFILE["market"], "data_source": "file", "data_file": "/tmp/x.csv"}
    await assert_refused(api, auth, bus, replay_on_simulator, "basics.mode", "paper account")


async def test_a_connection_made_before_the_facts_were_recorded_asks_for_a_reconnect(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Any, db: asyncpg.Connection
) -> None:
    connection = await connect(api, auth, alpaca())
    await db.execute("UPDATE broker_connections SET paper = NULL WHERE id = $1::uuid", connection)
    for basics in ({}, LIVE):
        await assert_refused(api, auth, bus, broker_profile(connection, basics=basics), "basics.mode", UNKNOWN_ACCOUNT)
    listed = (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]
    assert [c["paper"] for c in listed] == [None]


async def test_migration_0009_adds_the_columns_unknown_for_old_rows_and_paper_for_simulators(pg_dsn: str) -> None:
    admin = await asyncpg.connect(pg_dsn)
    name = f"mig_{uuid.uuid4().hex[:10]}"
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        conn = await asyncpg.connect(pg_dsn, database=name)
        try:
            migrations = load_migrations()
            before = [m for m in migrations if m.version < "0009"]
            [ours] = [m for m in migrations if m.version.startswith("0009")]
            for migration in before:
                await conn.execute(migration.sql)
            user = await conn.fetchval(
                "INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'old@example.com', 'x')"
                " RETURNING id"
            )
            sealed = "decode('00', 'hex'), decode('00', 'hex'), decode('00', 'hex'), decode('00', 'hex'), 'k', 1"
            await conn.execute(
                "INSERT INTO broker_connections (id, user_id, kind, label, ciphertext, wrapped_key, iv, tag,"
                f" kms_key_id, scheme_version) VALUES (gen_random_uuid(), $1, 'alpaca', 'old', {sealed}),"
                " (gen_random_uuid(), $1, 'paper', 'sim', NULL, NULL, NULL, NULL, NULL, NULL)",
                user,
            )
            await conn.execute(ours.sql)
            rows = await conn.fetch("SELECT kind, paper, exchange FROM broker_connections ORDER BY kind")
            assert [(r["kind"], r["paper"], r["exchange"]) for r in rows] == [
                ("alpaca", None, None),
                ("paper", True, None),
            ]
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE {name}")
        await admin.close()
