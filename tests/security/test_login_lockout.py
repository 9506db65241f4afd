"""Failed logins against someone's email do not lock them out from their own address,
while one address still cannot spray guesses over many emails."""

from __future__ import annotations

import uuid

from api.settings import ApiSettings
from tests.security.clients import client_from, login, running_app, signup


async def test_an_attacker_hammering_the_victims_email_does_not_lock_the_victim_out(
    api_settings: ApiSettings,
) -> None:
    victim_email = f"victim-{uuid.uuid4().hex[:12]}@example.com"
    settings = api_settings.model_copy(update={"login_attempts_per_minute": 3})
    async with (
        running_app(settings) as app,
        client_from(app, "198.51.100.7") as victim,
        client_from(app, "203.0.113.66") as attacker,
    ):
        assert (await signup(victim, victim_email)).status_code == 201
        for _ in range(3):
            assert (await login(attacker, victim_email, "guess guess guess")).status_code == 401
        limited = await login(attacker, victim_email, "guess guess guess")
        assert limited.status_code == 429, "the attacker's own address is limited"
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1

        own = await login(victim, victim_email)
        assert own.status_code == 200, own.text


async def test_one_address_spraying_many_emails_is_limited(api_settings: ApiSettings) -> None:
    settings = api_settings.model_copy(
        update={"login_attempts_per_minute": 3, "login_attempts_per_address_per_minute": 5}
    )
    async with running_app(settings) as app, client_from(app, "203.0.113.77") as sprayer:
        for n in range(5):
            assert (await login(sprayer, f"spray-{n}-{uuid.uuid4().hex[:8]}@example.com")).status_code == 401
        limited = await login(sprayer, f"spray-last-{uuid.uuid4().hex[:8]}@example.com")
        assert limited.status_code == 429, limited.text
        assert "login attempts from your address" in limited.json()["detail"]
