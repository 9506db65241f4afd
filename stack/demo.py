"""Demo data for ``hmmtrade up``: a user on the pro tier with paper bots, created through
the public API: one for the local agent, one hosted on a (local) Fly Machine that replays
the S&P 500 at a visible pace, so audit flows from a "VM" through the bus into Postgres and
the API, and, when ``up`` runs the Alpaca emulator, an Alpaca paper connection on it with a
hosted crypto bot that reads the emulator's bars and sends it orders.

Idempotent: the user is logged into if it exists, an existing demo connection is reused, and
the connection and bots are created with fixed ``Idempotency-Key`` headers so every ``up``
finds the same ones.

Its password is in this file, so the demo user exists only where nobody else can reach
it: an API bound to a loopback address, outside production (``demo_skip_reason``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from stack.venue_emulators import VenueTarget
from store import users

log = structlog.get_logger(__name__)

DEMO_EMAIL = "demo@hmmtrade.dev"
DEMO_PASSWORD = "demo-password-123"

DEMO_PROFILE = {
    "basics": {"name": "Demo S&P 500 regime bot", "surface": "local", "mode": "paper"},
    "broker": {"connection": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 3, "features": ["log_return", "realized_vol"], "training_window": 756, "min_persistence": 5},
    "strategy": {
        "exposure_per_regime": [0.0, 1.0, 1.0],
        "max_drawdown_pct": 20,
        "rearm": "calm",
        "rebalance_band_pct": 10,
    },
    "schedule": {"run": "after_close", "confirmed": True},
}


HOSTED_DEMO_PROFILE = {
    **DEMO_PROFILE,
    "basics": {"name": "Demo hosted S&P 500 bot", "surface": "hosted", "mode": "paper"},
    "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 252},
    "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50},
    "schedule": {"run": "every_bar", "confirmed": True},  # ticks continuously, so the demo shows a stream
}


DEMO_ALPACA_LABEL = "Demo Alpaca paper (emulator)"


def alpaca_demo_profile(connection_id: str) -> dict[str, Any]:
    """A hosted paper bot on the Alpaca emulator: crypto, so it trades at any hour; hourly bars,
    which the emulator's accelerated clock closes every ten seconds (``DEMO_SPEED`` says why not
    minutes); a small model (two regimes, 200 bars) so backfill and the first fit take seconds."""
    return {
        "basics": {"name": "Demo Alpaca paper BTC bot", "surface": "hosted", "mode": "paper"},
        "broker": {"connection": connection_id},
        "market": {"symbols": ["BTC/USD"], "bar_interval": "1h", "asset_class": "crypto", "data_source": "broker"},
        "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 200},
        "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50},
        "schedule": {"run": "every_bar", "confirmed": True},
    }


@dataclass(frozen=True)
class DemoSeeded:
    """What the demo seeding found or made; ``alpaca`` is the Alpaca bot's id or why there is none."""

    email: str
    password: str
    local_bot: str
    hosted_bot: str
    alpaca: str

    def line(self) -> str:
        bots = f"local bot {self.local_bot}, hosted bot {self.hosted_bot}, {self.alpaca}"
        return f"log in as {self.email} / {self.password}  ({bots})"


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


def seed_demo_if_safe(
    api_host: str, base_url: str, database_url: str, *, environment: str, alpaca: VenueTarget | None = None
) -> str:
    """Seed the demo when ``demo_skip_reason`` allows it; the line ``hmmtrade up`` prints either way."""
    reason = demo_skip_reason(api_host, environment)
    if reason is not None:
        log.warning("demo.skipped", reason=reason)
        return f"no demo user: {reason}"
    return seed_demo(base_url, database_url, alpaca=alpaca).line()


def seed_demo(
    base_url: str, database_url: str, *, alpaca: VenueTarget | None = None, timeout_s: float = 30.0
) -> DemoSeeded:
    """The demo user and its bots; the Alpaca bot only with an emulator whose keys ``up`` holds."""
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
        alpaca_bot = _seed_alpaca(http, headers, alpaca, timeout_s)
        return DemoSeeded(DEMO_EMAIL, DEMO_PASSWORD, bot_id, hosted_id, alpaca_bot)


def _seed_alpaca(http: httpx.Client, headers: dict[str, str], alpaca: VenueTarget | None, timeout_s: float) -> str:
    """``alpaca paper bot <id>``, or why there is none: an extra of the demo never stops ``up``."""
    if alpaca is None:
        return "no alpaca paper bot: HMMTRADE_ALPACA_URL is external and its keys are yours"
    try:
        connection_id = _alpaca_connection(http, headers, alpaca, timeout_s)
        bot_id = _create(http, headers, alpaca_demo_profile(connection_id), "demo-alpaca-bot-v1", timeout_s)
    except (httpx.HTTPError, TimeoutError) as exc:
        reason = _problem_detail(exc)
        log.warning("demo.alpaca_failed", error=reason)
        return f"no alpaca paper bot: {reason}"
    return f"alpaca paper bot {bot_id}"


def _alpaca_connection(http: httpx.Client, headers: dict[str, str], alpaca: VenueTarget, timeout_s: float) -> str:
    """The demo's Alpaca paper connection on the emulator: the one listed, else connected now and
    waited for (a worker stores it, and a bot on a connection not yet stored is refused)."""
    existing = _listed(http, headers)
    if existing is not None:
        return existing
    body = {
        "kind": "alpaca",
        "label": DEMO_ALPACA_LABEL,
        "credentials": {"api_key_id": alpaca.key, "api_secret_key": alpaca.secret, "paper": True},
    }
    created = http.post("/api/v1/brokers", json=body, headers={**headers, "Idempotency-Key": "demo-alpaca-v1"})
    created.raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = _listed(http, headers)
        if listed is not None:
            return listed
        time.sleep(0.1)
    raise TimeoutError(f"the demo's Alpaca connection was not stored after {timeout_s:g}s (see the workers' log)")


def _problem_detail(exc: Exception) -> str:
    """The API's own words for a refusal (its problem document's ``detail``), else the error."""
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            return str(exc.response.json().get("detail") or exc)
        except ValueError:
            pass
    return str(exc)


def _listed(http: httpx.Client, headers: dict[str, str]) -> str | None:
    listed = http.get("/api/v1/brokers", headers=headers)
    listed.raise_for_status()
    for connection in listed.json()["connections"]:
        if connection["kind"] == "alpaca" and connection["label"] == DEMO_ALPACA_LABEL:
            return str(connection["id"])
    return None


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
