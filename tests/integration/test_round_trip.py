"""The main path: signup, login, create a bot, and see it once its intent is done."""

from __future__ import annotations

from typing import Any

import httpx

from events.bus import Bus
from tests.busutil import messages_on
from tests.conftest import VALID_PROFILE, intent_settled


async def test_created_bot_is_visible_with_its_profile_as_sent(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any, bus: Bus
) -> None:
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers={**auth, "X-Request-ID": "wizard-req-1"})
    assert created.status_code == 202, created.text
    assert created.headers["X-Request-ID"] == "wizard-req-1"
    bot_id, intent_id = created.json()["bot_id"], created.json()["intent_id"]

    intent = await intent_settled(api, auth, intent_id)
    assert intent["status"] == "done" and intent["kind"] == "bot.create" and intent["error"] is None

    bot = await api.get(f"/api/v1/bots/{bot_id}", headers=auth)
    assert bot.status_code == 200
    body = bot.json()
    assert body["status"] == "stopped"
    assert body["name"] == "Test bot"
    for section, fields in VALID_PROFILE.items():
        for key, value in fields.items():
            assert body["profile"][section][key] == value, (section, key)

    listed = await api.get("/api/v1/bots", headers=auth)
    assert [b["id"] for b in listed.json()["bots"]] == [bot_id]

    # the request id travels with the intent to the worker's outcome event
    [(_, done)] = await messages_on(bus.js, "EVENTS", f"events.intent.{intent_id}.done")
    assert done["correlation_id"] == "wizard-req-1" and done["type"] == "intent.done"


async def test_start_stop_delete_move_the_bot_through_its_states(
    api: httpx.AsyncClient, auth: dict[str, str], workers: Any
) -> None:
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    bot_id = created.json()["bot_id"]
    await intent_settled(api, auth, created.json()["intent_id"])

    for action, expected in (("start", "starting"), ("stop", "stopped")):
        response = await api.post(f"/api/v1/bots/{bot_id}/{action}", headers=auth)
        assert response.status_code == 202, response.text
        assert (await intent_settled(api, auth, response.json()["intent_id"]))["status"] == "done"
        assert (await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()["status"] == expected

    deleted = await api.delete(f"/api/v1/bots/{bot_id}", headers=auth)
    assert (await intent_settled(api, auth, deleted.json()["intent_id"]))["status"] == "done"
    assert (await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json()["status"] == "deleted"
    assert (await api.get("/api/v1/bots", headers=auth)).json()["bots"] == []
    again = await api.post(f"/api/v1/bots/{bot_id}/start", headers=auth)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"


async def test_me_and_refresh_rotate_tokens(api: httpx.AsyncClient) -> None:
    creds = {"email": "rotate@example.com", "password": "correct horse battery"}
    assert (await api.post("/api/v1/auth/signup", json=creds)).status_code == 201
    duplicate = await api.post("/api/v1/auth/signup", json={**creds, "email": "ROTATE@example.com"})
    assert duplicate.status_code == 409

    tokens = (await api.post("/api/v1/auth/login", json=creds)).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == "rotate@example.com" and me.json()["tier"] == "free"

    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]
    # reuse burns the whole family: the token issued by the first refresh is dead too
    burnt = await api.post("/api/v1/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert burnt.status_code == 401

    wrong = await api.post("/api/v1/auth/login", json={**creds, "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["title"] == "Not authenticated"
    access_as_refresh = await api.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert access_as_refresh.status_code == 401
