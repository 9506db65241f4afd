"""Demo data for ``hmmtrade up``: a user on the pro tier with two paper bots, created
through the public API: one for the local agent, one hosted on a (local) Fly Machine that
replays the S&P 500 at a visible pace, so audit flows from a "VM" through the bus into
Postgres and the API.

Idempotent: the user is logged into if it exists, and the bots are created with fixed
``Idempotency-Key`` headers so every ``up`` finds the same bots.

Its password is in this file, so the demo user exists only where nobody else can reach
it: an API bound to a loopback address, outside production (``demo_skip_reason``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import asyncpg
import httpx
import structlog

from store import users

log = structlog.get_logger(__name__)

DEMO_EMAIL = "demo@hmmtrade.dev"
DEMO_PASSWORD = "demo-password-123"

DEMO_PROFILE = {
    "basics": {"name": "Demo S&P 500 regime bot", "surface": "local", "mode": "paper"},
    "broker": {"connection": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 3, "features": ["log_return", "realized_vol"], "training_window": 756},
    "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0], "max_drawdown_pct": 20},
    "schedule": {"run": "after_close", "confirmed": True},
}


HOSTED_DEMO_PROFILE = {
    **DEMO_PROFILE,
    "basics": {"name": "Demo hosted S&P 500 bot", "surface": "hosted", "mode": "paper"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 252},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50},
    "schedule": {"run": "every_bar", "confirmed": True},  # ticks continuously, so the demo shows a stream
}


def demo_skip_reason(api_host: str, environment: str) -> str | None:
    """Why no demo user may be created for an API bound to ``api_host``; None when it may."""
    if environment.strip().lower() == "production":
        return "HMMTRADE_ENV=production: an account whose password is published must not exist in production"
    if not _is_loopback(api_host):
        return (
            f"the API listens on {api_host}, reachable from other machines, and the demo password is public;"
            " bind it to 127.0.0.1 (the default --api-host) for a demo"
        )
    return None


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so it is not known to be private


def seed_demo_if_safe(api_host: str, base_url: str, database_url: str, *, environment: str) -> str:
    """Seed the demo when ``demo_skip_reason`` allows it; the line ``hmmtrade up`` prints either way."""
    reason = demo_skip_reason(api_host, environment)
    if reason is not None:
        log.warning("demo.skipped", reason=reason)
        return f"no demo user: {reason}"
    email, password, bot_id, hosted_id = seed_demo(base_url, database_url)
    return f"log in as {email} / {password}  (local bot {bot_id}, hosted bot {hosted_id})"


def seed_demo(base_url: str, database_url: str, *, timeout_s: float = 30.0) -> tuple[str, str, str, str]:
    """(email, password, local bot id, hosted bot id)."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        creds = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        login = http.post("/api/v1/auth/login", json=creds)
        if login.status_code == 401:
            http.post("/api/v1/auth/signup", json=creds).raise_for_status()
            login = http.post("/api/v1/auth/login", json=creds)
        login.raise_for_status()
        asyncio.run(_set_tier(database_url, DEMO_EMAIL, "pro"))  # hosting needs a paid tier
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        bot_id = _create(http, headers, DEMO_PROFILE, "demo-bot-v1", timeout_s)
        hosted_id = _create(http, headers, HOSTED_DEMO_PROFILE, "demo-hosted-bot-v1", timeout_s)
        return DEMO_EMAIL, DEMO_PASSWORD, bot_id, hosted_id


async def _set_tier(database_url: str, email: str, tier: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await users.set_tier(conn, email, tier)
    finally:
        await conn.close()


def _create(http: httpx.Client, headers: dict[str, str], profile: dict[str, Any], key: str, timeout_s: float) -> str:
    created = http.post("/api/v1/bots", json=profile, headers={**headers, "Idempotency-Key": key})
    created.raise_for_status()
    bot_id, intent_id = str(created.json()["bot_id"]), created.json()["intent_id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        intent = http.get(f"/api/v1/intents/{intent_id}", headers=headers)
        if intent.status_code == 200 and intent.json()["status"] != "accepted":
            break
        time.sleep(0.1)
    return bot_id
