"""Broker connections: connect sealed, list without secrets, revoke by shredding; bad input."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from tests.busutil import messages_on
from tests.conftest import intent_settled
from tests.vaultutil import alpaca, connect, create_bot, machine_headers
from vault.emulator import KmsEmulator


async def test_connect_stores_only_the_envelope_and_lists_no_secrets(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, bus: Any
) -> None:
    connection_id = await connect(api, auth, alpaca("sk-live-VERYSECRET"))
    row = await db.fetchrow("SELECT * FROM broker_connections WHERE id = $1::uuid", connection_id)
    assert row["kind"] == "alpaca" and row["status"] == "active" and row["scheme_version"] == 1
    assert row["kms_key_id"].endswith("/cryptoKeyVersions/1")
    assert len(row["iv"]) == 12 and len(row["tag"]) == 16 and row["wrapped_key"]
    assert b"VERYSECRET" not in b"".join(bytes(row[c]) for c in ("ciphertext", "wrapped_key", "iv", "tag"))

    listed = (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]
    assert [(c["id"], c["kind"], c["label"], c["last_used_at"]) for c in listed] == [
        (connection_id, "alpaca", "My Alpaca", None)
    ]
    assert "VERYSECRET" not in str(listed) and "credentials" not in listed[0]

    [(_subject, intent)] = await messages_on(bus.js, "INTENTS", "intents.broker.connect")
    assert intent["sealed"]["kms_key_id"] == row["kms_key_id"]
    assert base64.b64decode(intent["sealed"]["ciphertext_b64"]) == bytes(row["ciphertext"])
    assert "VERYSECRET" not in str(intent) and "credentials" not in intent


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"kind": "alpaca", "label": "x", "credentials": {"api_key_id": "a", "paper": True}},
            "credentials.api_secret_key",
        ),
        (
            {"kind": "alpaca", "label": "x", "credentials": {"api_key_id": "a", "api_secret_key": "b"}},
            "credentials.paper",
        ),
        (
            {
                "kind": "exchange",
                "label": "x",
                "credentials": {"exchange": "Not A Name!", "api_key": "a", "api_secret": "b"},
            },
            "credentials.exchange",
        ),
        (
            {"kind": "exchange", "label": "x", "credentials": {"exchange": "kraken", "api_key": "", "api_secret": "b"}},
            "credentials.api_key",
        ),
        ({"kind": "paper", "label": "x", "credentials": {"api_key": "nope"}}, "credentials.api_key"),
        ({"kind": "ibkr", "label": "x", "credentials": {}}, "body"),
        ({"kind": "paper", "label": ""}, "label"),
    ],
)
async def test_bad_connections_are_refused_naming_the_field(
    api: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], fields: str, bus: Any
) -> None:
    response = await api.post("/api/v1/brokers", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fields.split(".")[-1] in response.json()["detail"]
    assert "nope" not in response.text  # the submitted values are not echoed back
    info = await bus.js.stream_info("INTENTS", subjects_filter="intents.broker.>")
    assert not info.state.subjects


async def test_paper_and_exchange_connections_are_accepted(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection
) -> None:
    paper = await connect(api, auth, {"kind": "paper", "label": "Simulator"})
    exchange = await connect(
        api,
        auth,
        {
            "kind": "exchange",
            "label": "Kraken",
            "credentials": {"exchange": "kraken", "api_key": "k", "api_secret": "s", "passphrase": "p"},
        },
    )
    kinds = {c["id"]: c["kind"] for c in (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]}
    assert kinds == {paper: "paper", exchange: "exchange"}
    assert await db.fetchval("SELECT wrapped_key FROM broker_connections WHERE id = $1::uuid", paper) is None


async def test_revoke_destroys_the_wrapped_key_and_the_bot_can_no_longer_get_credentials(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    connection_id = await connect(api, auth, alpaca())
    bot_id = await create_bot(api, auth, connection_id)
    machine = await machine_headers(db, api_settings, bot_id)
    assert (
        await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    ).status_code == 200

    revoked = await api.delete(f"/api/v1/brokers/{connection_id}", headers=auth)
    assert revoked.status_code == 202
    assert (await intent_settled(api, auth, revoked.json()["intent_id"]))["status"] == "done"
    row = await db.fetchrow("SELECT * FROM broker_connections WHERE id = $1::uuid", connection_id)
    assert row["status"] == "revoked" and row["wrapped_key"] is None and row["ciphertext"] is None
    assert (await api.get("/api/v1/brokers", headers=auth)).json()["connections"] == []
    refused = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert refused.status_code == 409 and "no longer exists" in refused.json()["detail"]
    again = await api.delete(f"/api/v1/brokers/{connection_id}", headers=auth)
    assert again.status_code == 404


async def test_another_users_connection_is_invisible_and_cannot_be_revoked(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any
) -> None:
    from tests.conftest import signup_and_login

    connection_id = await connect(api, auth, alpaca())
    stranger = await signup_and_login(api)
    assert (await api.get("/api/v1/brokers", headers=stranger)).json()["connections"] == []
    assert (await api.delete(f"/api/v1/brokers/{connection_id}", headers=stranger)).status_code == 404
    assert len((await api.get("/api/v1/brokers", headers=auth)).json()["connections"]) == 1


async def test_a_retried_connect_with_the_same_idempotency_key_stores_one_connection(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection
) -> None:
    headers = {**auth, "Idempotency-Key": "connect-alpaca-once"}
    first = await api.post("/api/v1/brokers", json=alpaca(), headers=headers)
    second = await api.post("/api/v1/brokers", json=alpaca(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    await intent_settled(api, auth, first.json()["intent_id"])
    assert len((await api.get("/api/v1/brokers", headers=auth)).json()["connections"]) == 1


@pytest.mark.parametrize("column", ["ciphertext", "tag", "iv", "wrapped_key"])
async def test_a_tampered_row_is_refused_with_the_opaque_error(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    workers: Any,
    db: asyncpg.Connection,
    api_settings: ApiSettings,
    column: str,
) -> None:
    connection_id = await connect(api, auth, alpaca())
    bot_id = await create_bot(api, auth, connection_id)
    machine = await machine_headers(db, api_settings, bot_id)
    await db.execute(
        f"UPDATE broker_connections SET {column} = overlay({column} placing"
        f" decode(lpad(to_hex(get_byte({column}, 0) # 1), 2, '0'), 'hex') from 1 for 1) WHERE id = $1::uuid",
        connection_id,
    )
    refused = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == "The broker connection's credentials can't be decrypted; connect the broker again."
    )


async def test_a_row_moved_to_another_user_or_connection_does_not_decrypt(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    from tests.conftest import signup_and_login

    victim = await connect(api, auth, alpaca("the-victims-secret"))
    attacker_auth = await signup_and_login(api)
    attacker = await connect(api, attacker_auth, alpaca("attackers-own"))
    bot_id = await create_bot(api, attacker_auth, attacker)
    machine = await machine_headers(db, api_settings, bot_id)
    # an attacker with write access copies the victim's envelope onto their own connection
    await db.execute(
        "UPDATE broker_connections AS a SET ciphertext = v.ciphertext, wrapped_key = v.wrapped_key, iv = v.iv,"
        " tag = v.tag, kms_key_id = v.kms_key_id FROM broker_connections AS v"
        " WHERE a.id = $1::uuid AND v.id = $2::uuid",
        attacker,
        victim,
    )
    refused = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert refused.status_code == 409 and "the-victims-secret" not in refused.text
    # or moves the victim's whole row under their own account, keeping its id
    await db.execute(
        "UPDATE broker_connections SET user_id = (SELECT user_id FROM broker_connections WHERE id = $2::uuid)"
        " WHERE id = $1::uuid",
        victim,
        attacker,
    )
    await db.execute(
        "UPDATE bots SET profile = jsonb_set(profile, '{broker,connection}', to_jsonb($2::text)) WHERE id = $1::uuid",
        bot_id,
        victim,
    )
    refused = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert refused.status_code == 409 and "the-victims-secret" not in refused.text


async def test_connect_is_refused_with_503_when_the_kms_refuses(
    api: httpx.AsyncClient, auth: dict[str, str], kms_emulator: KmsEmulator, bus: Any
) -> None:
    kms_emulator.faults.drop_verified_flag = True  # KMS did not confirm it got our bytes intact
    response = await api.post("/api/v1/brokers", json=alpaca(), headers=auth)
    assert response.status_code == 503 and "not saved" in response.json()["detail"]
    info = await bus.js.stream_info("INTENTS", subjects_filter="intents.broker.>")
    assert not info.state.subjects
