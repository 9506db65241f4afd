"""A user sees only their own bots, intents and audit: anyone else's are 404, not 403."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login


async def test_another_users_bot_intent_and_audit_are_not_found(api: httpx.AsyncClient, workers: Any) -> None:
    alice = await signup_and_login(api)
    bob = await signup_and_login(api)
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=alice)
    bot_id, intent_id = created.json()["bot_id"], created.json()["intent_id"]
    await intent_settled(api, alice, intent_id)

    attempts = [
        ("GET", f"/api/v1/bots/{bot_id}"),
        ("GET", f"/api/v1/bots/{bot_id}/audit"),
        ("POST", f"/api/v1/bots/{bot_id}/start"),
        ("POST", f"/api/v1/bots/{bot_id}/stop"),
        ("DELETE", f"/api/v1/bots/{bot_id}"),
        ("GET", f"/api/v1/intents/{intent_id}"),
    ]
    for method, path in attempts:
        response = await api.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert bot_id not in response.text or path.endswith(bot_id) or "bots" in path
    assert (await api.get("/api/v1/bots", headers=bob)).json()["bots"] == []

    # Alice's bot is untouched by Bob's attempts
    bot = (await api.get(f"/api/v1/bots/{bot_id}", headers=alice)).json()
    assert bot["status"] == "stopped"
    assert (await api.get(f"/api/v1/intents/{intent_id}", headers=alice)).json()["status"] == "done"


async def test_requests_without_a_valid_token_are_401(api: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await api.get("/api/v1/bots", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["title"] == "Not authenticated"
