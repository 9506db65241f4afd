"""What the hosted-bot tests share: profiles, the emulator's token, and polls over the API,
the Fly emulator's machine logs and the bus."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import asyncpg
import httpx

from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from tests.conftest import VALID_PROFILE
from tests.hostedstack import FLY_TOKEN

TOKEN = FLY_TOKEN

HOSTED_PROFILE: dict[str, Any] = copy.deepcopy(VALID_PROFILE)
HOSTED_PROFILE["basics"] = {"name": "Hosted test bot", "surface": "hosted", "mode": "paper"}
HOSTED_PROFILE["model"] = {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150}
HOSTED_PROFILE["strategy"] = {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10}
HOSTED_PROFILE["schedule"] = {"run": "every_bar", "confirmed": True}  # runs on (after_close scales to zero)
SLEEPING_PROFILE: dict[str, Any] = {
    **copy.deepcopy(HOSTED_PROFILE),
    "schedule": {"run": "after_close", "confirmed": True},
}


async def hosted_user(api: httpx.AsyncClient, db: asyncpg.Connection, tier: str) -> dict[str, str]:
    email = f"hosted-{uuid.uuid4().hex[:10]}@example.com"
    creds = {"email": email, "password": "correct horse battery"}
    assert (await api.post("/api/v1/auth/signup", json=creds)).status_code == 201
    await db.execute("UPDATE users SET tier = $2 WHERE email = $1", email, tier)
    login = await api.post("/api/v1/auth/login", json=creds)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def bot_view(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> dict[str, Any]:
    return dict((await api.get(f"/api/v1/bots/{bot_id}", headers=auth)).json())


async def audit_records(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str) -> list[dict[str, Any]] | None:
    response = await api.get(f"/api/v1/bots/{bot_id}/audit?limit=1000", headers=auth)
    return list(response.json()["records"]) or None if response.status_code == 200 else None


async def audit_through(api: httpx.AsyncClient, auth: dict[str, str], bot_id: str, seq: int) -> list[Any] | None:
    records = await audit_records(api, auth, bot_id)
    return records if records and records[-1]["seq"] >= seq else None


async def machines_of(fly: FlyMachines, bot_id: str) -> list[Any] | None:
    return await fly.list(metadata={"bot_id": bot_id}) or None


async def logged_seq_above(emulator: FlyEmulator, machine_id: str, seq: int) -> int | None:
    log = emulator.log_path(machine_id).read_text()
    seqs = [int(line.split("seq=")[1].split()[0]) for line in log.splitlines() if "seq=" in line]
    return max(seqs) if seqs and max(seqs) > seq else None
