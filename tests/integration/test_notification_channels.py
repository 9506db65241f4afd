"""Notification channels over the API: secrets shown once or never, sealed at rest, owner-only."""

from __future__ import annotations

import copy
import uuid

import asyncpg
import httpx

from tests.conftest import VALID_PROFILE, signup_and_login

TOKEN = "987654:AAE-bot_token_secret"


async def test_a_webhook_channel_shows_its_signing_secret_once_and_only_its_host_after(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Connection
) -> None:
    created = await api.post(
        "/api/v1/notification-channels",
        json={"kind": "webhook", "label": "Ops", "url": "http://127.0.0.1:9/hooks/s3cr3t-path"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["signing_secret"]
    assert secret.startswith("whsec_")
    assert body["target"] == "127.0.0.1"
    listed = await api.get("/api/v1/notification-channels", headers=auth)
    assert listed.status_code == 200
    assert listed.json()["channels"] == [{k: v for k, v in body.items() if k != "signing_secret"}]
    assert secret not in listed.text and "s3cr3t-path" not in listed.text
    row = await db.fetchrow("SELECT * FROM notification_channels WHERE id = $1", uuid.UUID(body["id"]))
    at_rest = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert secret.encode() not in at_rest and b"s3cr3t-path" not in at_rest


async def test_a_telegram_token_is_never_shown_or_stored_in_the_clear(
    api: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Connection
) -> None:
    created = await api.post(
        "/api/v1/notification-channels",
        json={"kind": "telegram", "label": "Phone", "chat_id": "-1001234", "bot_token": TOKEN},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert TOKEN not in created.text and created.json()["signing_secret"] is None
    assert created.json()["target"] == "-1001234"
    row = await db.fetchrow("SELECT * FROM notification_channels WHERE id = $1", uuid.UUID(created.json()["id"]))
    at_rest = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert TOKEN.encode() not in at_rest


async def test_bad_channels_are_refused_with_the_field_to_fix(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    bad_token = await api.post(
        "/api/v1/notification-channels",
        json={"kind": "telegram", "label": "x", "chat_id": "42", "bot_token": "not a token"},
        headers=auth,
    )
    assert bad_token.status_code == 422
    assert "bot_token" in bad_token.text and "not a token" not in bad_token.text
    bad_mail = await api.post(
        "/api/v1/notification-channels", json={"kind": "email", "label": "x", "to": "nobody"}, headers=auth
    )
    assert bad_mail.status_code == 422 and "to" in bad_mail.json()["detail"]


async def test_only_the_owner_lists_and_deletes_a_channel(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await api.post(
        "/api/v1/notification-channels",
        json={"kind": "email", "label": "Me", "to": "trader@example.com"},
        headers=auth,
    )
    channel_id = created.json()["id"]
    other = await signup_and_login(api)
    assert (await api.get("/api/v1/notification-channels", headers=other)).json()["channels"] == []
    assert (await api.delete(f"/api/v1/notification-channels/{channel_id}", headers=other)).status_code == 404
    assert (await api.delete(f"/api/v1/notification-channels/{channel_id}", headers=auth)).status_code == 204
    assert (await api.get("/api/v1/notification-channels", headers=auth)).json()["channels"] == []
    assert (await api.delete(f"/api/v1/notification-channels/{channel_id}", headers=auth)).status_code == 404


async def test_a_bot_may_name_only_its_owners_channels(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    mine = (
        await api.post(
            "/api/v1/notification-channels",
            json={"kind": "email", "label": "Me", "to": "trader@example.com"},
            headers=auth,
        )
    ).json()["id"]
    other = await signup_and_login(api)
    theirs = (
        await api.post(
            "/api/v1/notification-channels",
            json={"kind": "email", "label": "Them", "to": "them@example.com"},
            headers=other,
        )
    ).json()["id"]
    profile = copy.deepcopy(VALID_PROFILE)
    profile["schedule"]["notify"] = {"channels": [mine, theirs], "events": ["halt", "daily_summary"]}
    refused = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "schedule.notify.channels"
    assert theirs in refused.json()["errors"][0]["msg"] and mine not in refused.json()["errors"][0]["msg"]
    profile["schedule"]["notify"]["channels"] = [mine]
    accepted = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert accepted.status_code == 202, accepted.text
