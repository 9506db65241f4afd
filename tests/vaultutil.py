"""Helpers for tests of broker connections and the internal API."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx

from api.settings import ApiSettings
from tests.conftest import VALID_PROFILE, intent_settled, set_tier
from vault.machine_jwt import MachineTokens, open_machine_tokens
from workers.machine_identity import issue_machine_token


def alpaca(secret: str = "alpaca-secret-0000", label: str = "My Alpaca") -> dict[str, Any]:
    return {
        "kind": "alpaca",
        "label": label,
        "credentials": {"api_key_id": "AKTESTKEYID", "api_secret_key": secret, "paper": True},
    }


async def connect(api: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> str:
    """Connect a broker and wait for the worker to store it; returns the connection id."""
    response = await api.post("/api/v1/brokers", json=body, headers=auth)
    assert response.status_code == 202, response.text
    settled = await intent_settled(api, auth, response.json()["intent_id"])
    assert settled["status"] == "done", settled
    return str(response.json()["connection_id"])


async def create_bot(api: httpx.AsyncClient, auth: dict[str, str], connection: str = "paper") -> str:
    """A hosted bot (machine tokens are for hosted bots); its user is moved to the pro plan first."""
    await set_tier(api, auth, "pro")
    profile = copy.deepcopy(VALID_PROFILE)
    profile["broker"] = {"connection": connection}
    profile["basics"]["surface"] = "hosted"
    response = await api.post("/api/v1/bots", json=profile, headers=auth)
    assert response.status_code == 202, response.text
    assert (await intent_settled(api, auth, response.json()["intent_id"]))["status"] == "done"
    return str(response.json()["bot_id"])


def machine_tokens(settings: ApiSettings) -> MachineTokens:
    """The signer a worker would use: the same key folder, issuer and audience as the API."""
    return open_machine_tokens(
        settings.machine_jwt_key_dir,
        ttl_s=settings.machine_token_ttl_s,
        issuer=settings.jwt_issuer,
        audience=settings.machine_jwt_audience,
    )


async def machine_headers(db: Any, settings: ApiSettings, bot_id: str) -> dict[str, str]:
    token = await issue_machine_token(db, machine_tokens(settings), uuid.UUID(bot_id))
    return {"Authorization": f"Bearer {token}"}
