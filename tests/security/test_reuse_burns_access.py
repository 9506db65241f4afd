"""When a refresh token is reused, the access tokens issued before that stop working at once."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from api.tokens import TokenService, generate_private_key_pem

CREDS = {"password": "correct horse battery"}


async def _login(api: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await api.post("/api/v1/auth/login", json={**CREDS, "email": email})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _me(api: httpx.AsyncClient, access: str) -> httpx.Response:
    return await api.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"})


async def test_access_tokens_from_before_a_reuse_get_401_and_a_new_login_works(api: httpx.AsyncClient) -> None:
    email = f"reuse-{uuid.uuid4().hex[:12]}@example.com"
    assert (await api.post("/api/v1/auth/signup", json={**CREDS, "email": email})).status_code == 201
    first = await _login(api, email)
    assert (await _me(api, first["access_token"])).status_code == 200  # and the user row is now cached

    rotated = await api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    reused = await api.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]

    for access in (first["access_token"], rotated.json()["access_token"]):
        refused = await _me(api, access)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "signed out" in refused.json()["detail"]
        assert refused.headers["www-authenticate"] == "Bearer"

    again = await _login(api, email)
    assert (await _me(api, again["access_token"])).status_code == 200, "a login after the burn is good"


def test_iat_has_millisecond_precision_and_never_rounds_up() -> None:
    tokens = TokenService(generate_private_key_pem(), issuer="i", audience="a", access_ttl_s=900, refresh_ttl_s=3600)
    issued = int(time.time()) + 0.4569  # PyJWT checks exp against the real clock, so mint near it
    token, claims = tokens.mint("user", "access", now=issued)
    assert claims.iat == pytest.approx(int(issued) + 0.456, abs=1e-6) and claims.iat <= issued
    assert tokens.verify(token, "access").iat == claims.iat
