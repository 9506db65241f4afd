"""Login attempts are rate-limited per email: past the budget the API answers 429 with Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings


@pytest.fixture
async def strict_api(api_settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings.model_copy(update={"login_attempts_per_minute": 3}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_fourth_attempt_in_a_minute_is_refused_even_with_the_right_password(
    strict_api: httpx.AsyncClient,
) -> None:
    creds = {"email": "limited@example.com", "password": "correct horse battery"}
    assert (await strict_api.post("/api/v1/auth/signup", json=creds)).status_code == 201
    for _ in range(3):
        wrong = await strict_api.post("/api/v1/auth/login", json={**creds, "password": "guess guess guess"})
        assert wrong.status_code == 401
    limited = await strict_api.post("/api/v1/auth/login", json=creds)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1
    other = await strict_api.post("/api/v1/auth/login", json={"email": "else@example.com", "password": "x" * 12})
    assert other.status_code == 401, "another email has its own budget"
