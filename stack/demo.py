"""Demo data for ``hmmtrade up``: a user and a paper bot, created through the public API.

Idempotent: the user is logged into if it exists, and the bot is created with a fixed
``Idempotency-Key`` so every ``up`` finds the same bot.
"""

from __future__ import annotations

import time

import httpx

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


def seed_demo(base_url: str, *, timeout_s: float = 30.0) -> tuple[str, str, str]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        creds = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        login = http.post("/api/v1/auth/login", json=creds)
        if login.status_code == 401:
            http.post("/api/v1/auth/signup", json=creds).raise_for_status()
            login = http.post("/api/v1/auth/login", json=creds)
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = http.post("/api/v1/bots", json=DEMO_PROFILE, headers={**headers, "Idempotency-Key": "demo-bot-v1"})
        created.raise_for_status()
        bot_id, intent_id = created.json()["bot_id"], created.json()["intent_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            intent = http.get(f"/api/v1/intents/{intent_id}", headers=headers)
            if intent.status_code == 200 and intent.json()["status"] != "accepted":
                break
            time.sleep(0.1)
        return DEMO_EMAIL, DEMO_PASSWORD, bot_id
