"""The internal API: one bot per machine token, every bad token is a 401, revocation on stop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from api.settings import ApiSettings
from contracts.profile import BotProfile
from tests.conftest import intent_settled, wait_for
from tests.vaultutil import alpaca, connect, create_bot, machine_headers, machine_tokens
from trader.first_fit import first_fits
from trader.initial_models import from_json, to_json
from vault.machine_jwt import rotate_key_dir
from workers.machine_identity import issue_machine_token, revoke_machine_tokens


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_bot_gets_its_profile_connection_metadata_and_a_short_lived_bundle(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    connection_id = await connect(api, auth, alpaca("alpaca-secret-for-the-bot"))
    bot_id = await create_bot(api, auth, connection_id)
    machine = await machine_headers(db, api_settings, bot_id)

    profile = await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)
    assert profile.status_code == 200, profile.text
    body = profile.json()
    assert body["profile"]["broker"]["connection"] == connection_id
    assert body["connection"]["id"] == connection_id and body["connection"]["kind"] == "alpaca"
    assert "alpaca-secret-for-the-bot" not in profile.text

    before = datetime.now().astimezone()
    bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["cache-control"] == "no-store"
    token = bundle.json()
    assert token["credentials"] == {
        "api_key_id": "AKTESTKEYID",
        "api_secret_key": "alpaca-secret-for-the-bot",
        "paper": True,
    }
    expires = datetime.fromisoformat(token["expires_at"])
    assert before < expires <= before + timedelta(minutes=15, seconds=5)
    listed = (await api.get("/api/v1/brokers", headers=auth)).json()["connections"]
    assert listed[0]["last_used_at"] is not None


async def test_a_paper_bot_gets_an_empty_bundle(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    bot_id = await create_bot(api, auth, "paper")
    machine = await machine_headers(db, api_settings, bot_id)
    assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)).json()["connection"] is None
    bundle = (await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=machine)).json()
    assert bundle["kind"] == "paper" and bundle["credentials"] == {} and bundle["connection_id"] is None


async def test_bot_a_token_gets_404_for_bot_b(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    connection_id = await connect(api, auth, alpaca())
    bot_a = await create_bot(api, auth, connection_id)
    bot_b = await create_bot(api, auth, connection_id)  # same owner, even: the token is per bot
    machine_a = await machine_headers(db, api_settings, bot_a)
    profile = await api.get(f"/api/v1/internal/bots/{bot_b}", headers=machine_a)
    assert profile.status_code == 404 and profile.headers["content-type"] == "application/problem+json"
    token = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_b}, headers=machine_a)
    assert token.status_code == 404 and "alpaca" not in token.text
    missing = await api.get(f"/api/v1/internal/bots/{uuid.uuid4()}", headers=machine_a)
    assert missing.status_code == 404 and missing.json()["detail"].startswith("No bot")


async def test_user_access_tokens_and_no_token_are_401_on_internal_routes(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any
) -> None:
    bot_id = await create_bot(api, auth, "paper")
    for headers in (auth, {}):
        response = await api.get(f"/api/v1/internal/bots/{bot_id}", headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
async def bot_and_good_token(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> tuple[str, str]:
    bot_id = await create_bot(api, auth, "paper")
    token = await issue_machine_token(db, machine_tokens(api_settings), uuid.UUID(bot_id))
    return bot_id, token


def _forge(kind: str, bot_id: str, good: str, settings: ApiSettings) -> str:
    tokens = machine_tokens(settings)
    key = tokens.ring.signing_key(time.time())
    now = int(time.time())
    claims = jwt.decode(good, options={"verify_signature": False})
    base = {**claims}

    def signed(payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid, **(headers or {})})

    if kind == "expired":
        return signed({**base, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
    if kind == "not_yet_valid":
        return signed({**base, "iat": now + 3600, "nbf": now + 3600, "exp": now + 7200})
    if kind == "wrong_audience":
        return signed({**base, "aud": "hmmtrade-api"})
    if kind == "wrong_issuer":
        return signed({**base, "iss": "evil"})
    if kind == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(base)}."
    if kind == "hs256_with_public_key":
        public = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        head = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(base)}"
        mac = hmac.new(public, head.encode(), hashlib.sha256).digest()
        return f"{head}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    if kind == "unknown_kid":
        return signed(base, {"kid": "0000000000000000"})
    if kind == "unrecorded_jti":  # validly signed but never issued (e.g. minted by a stolen key, no row)
        return signed({**base, "jti": str(uuid.uuid4())})
    if kind == "garbage":
        return "not.a.jwt"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "alg_none",
        "hs256_with_public_key",
        "unknown_kid",
        "unrecorded_jti",
        "garbage",
    ],
)
async def test_bad_machine_tokens_are_401_on_both_routes(
    api: httpx.AsyncClient, api_settings: ApiSettings, bot_and_good_token: tuple[str, str], kind: str
) -> None:
    bot_id, good = bot_and_good_token
    ok = await api.get(f"/api/v1/internal/bots/{bot_id}", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200  # the untampered token works: each refusal below is the tampering
    headers = {"Authorization": f"Bearer {_forge(kind, bot_id, good, api_settings)}"}
    profile = await api.get(f"/api/v1/internal/bots/{bot_id}", headers=headers)
    bundle = await api.post("/api/v1/internal/broker_token", json={"bot_id": bot_id}, headers=headers)
    assert profile.status_code == bundle.status_code == 401
    assert profile.json()["detail"] == "The machine token is invalid, expired or revoked."


async def test_stopping_or_deleting_a_bot_revokes_its_machine_tokens(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    for action in ("stop", "delete"):
        bot_id = await create_bot(api, auth, "paper")
        machine = await machine_headers(db, api_settings, bot_id)
        assert (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)).status_code == 200
        if action == "stop":
            response = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
        else:
            response = await api.delete(f"/api/v1/bots/{bot_id}", headers=auth)
        assert (await intent_settled(api, auth, response.json()["intent_id"]))["status"] == "done"
        refused = await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)
        assert refused.status_code == 401, action
        reason = await db.fetchval("SELECT revoked_reason FROM machine_tokens WHERE bot_id = $1::uuid", bot_id)
        assert reason == ("bot stopped" if action == "stop" else "bot deleted")


async def test_revoking_by_hand_from_a_worker_module(
    api: httpx.AsyncClient, bot_and_good_token: tuple[str, str], db: asyncpg.Connection
) -> None:
    bot_id, token = bot_and_good_token
    assert await revoke_machine_tokens(db, uuid.UUID(bot_id), "machine destroyed") == 1
    response = await api.get(f"/api/v1/internal/bots/{bot_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_jwks_publishes_the_keys_and_a_rotation_keeps_old_tokens_valid(
    api: httpx.AsyncClient, api_settings: ApiSettings, bot_and_good_token: tuple[str, str], db: asyncpg.Connection
) -> None:
    bot_id, old_token = bot_and_good_token
    jwks = (await api.get("/.well-known/jwks.json")).json()
    [key] = jwks["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and "d" not in key
    signing = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(old_token)["kid"]]
    jwt.decode(old_token, signing.key, algorithms=["EdDSA"], audience="hmmtrade-internal", issuer="hmmtrade")

    assert api_settings.machine_jwt_key_dir is not None
    new_kid = rotate_key_dir(api_settings.machine_jwt_key_dir, overlap_s=api_settings.machine_token_ttl_s)
    new_token = await issue_machine_token(db, machine_tokens(api_settings), uuid.UUID(bot_id))
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid

    async def both_published() -> set[str] | None:
        kids = {k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]}
        return kids if len(kids) == 2 else None

    from tests.conftest import wait_for

    assert new_kid in await wait_for(both_published, what="the API to pick up the rotated key")
    for token in (old_token, new_token):
        response = await api.get(f"/api/v1/internal/bots/{bot_id}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


async def test_a_booting_bot_on_bundled_data_gets_the_first_fit_its_engine_would_make(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, db: asyncpg.Connection, api_settings: ApiSettings
) -> None:
    bot_id = await create_bot(api, auth, "paper")
    machine = await machine_headers(db, api_settings, bot_id)

    async def shipped() -> list[dict[str, Any]] | None:  # a boot goes without while the fit is still running
        body = (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)).json()
        return list(body["initial_models"]) or None

    models = await wait_for(shipped, timeout_s=60, interval_s=0.2, what="the first fit to be shipped")
    profile = BotProfile.model_validate(
        (await api.get(f"/api/v1/internal/bots/{bot_id}", headers=machine)).json()["profile"]
    )
    assert models == to_json(await asyncio.to_thread(first_fits, profile))  # what the bot's own engine fits first
    assert from_json(models)  # and a well-formed model
