"""Signups are limited per client address: past the budget, 429 with Retry-After, and no account."""

from __future__ import annotations

import uuid

from api.settings import ApiSettings
from tests.security.clients import client_from, login, running_app, signup


def _email() -> str:
    return f"signup-{uuid.uuid4().hex[:12]}@example.com"


def test_the_default_budget_is_ten_signups_per_address_per_hour() -> None:
    assert ApiSettings.model_fields["signups_per_hour"].default == 10
    assert ApiSettings(HMMTRADE_SIGNUPS_PER_HOUR=3).signups_per_hour == 3


async def test_a_signup_past_the_budget_is_refused_and_other_addresses_keep_theirs(api_settings: ApiSettings) -> None:
    settings = api_settings.model_copy(update={"signups_per_hour": 2})
    async with (
        running_app(settings) as app,
        client_from(app, "203.0.113.10") as spammer,
        client_from(app, "198.51.100.20") as neighbour,
    ):
        for _ in range(2):
            assert (await signup(spammer, _email())).status_code == 201
        refused_email = _email()
        refused = await signup(spammer, refused_email)

        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 1800  # one signup per 1800 s at 2/hour
        problem = refused.json()
        assert problem["status"] == 429 and problem["title"] == "Too many requests"
        assert "accounts created from your address" in problem["detail"]
        assert problem["instance"] == "/api/v1/auth/signup"
        assert (await login(spammer, refused_email)).status_code == 401, "the refused signup created nothing"

        assert (await signup(neighbour, _email())).status_code == 201, "another address has its own budget"
