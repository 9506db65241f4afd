"""Broker credentials with control characters or line breaks are refused (422 naming the field).

A hosted bot receives its credentials as lines of a ``.env`` file that the trader reads
with ``str.splitlines()``: a newline, or any other character that splits lines there,
would let the sender add settings of their choosing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from events.bus import Bus
from tests.vaultutil import alpaca

INJECTIONS = ["\n", "\r", "\x0b", "\x0c", "\x00", "\x1e", "\x85", "\u2028", "\u2029", "\x7f"]


@pytest.mark.parametrize("char", INJECTIONS, ids=[f"U+{ord(c):04X}" for c in INJECTIONS])
async def test_a_secret_with_a_line_break_or_control_character_is_refused(
    api: httpx.AsyncClient, auth: dict[str, str], bus: Bus, char: str
) -> None:
    body = alpaca(f"sk-INJECTED{char}BROKER_BASE_URL=https://evil.example")
    response = await api.post("/api/v1/brokers", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "api_secret_key" in response.json()["detail"]
    assert "control characters" in str(response.json()["errors"])
    assert "INJECTED" not in response.text, "the secret is not echoed back"
    info = await bus.js.stream_info("INTENTS", subjects_filter="intents.broker.>")
    assert not info.state.subjects, "nothing was sealed or published"


async def test_every_secret_field_is_checked(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body: dict[str, Any] = {
        "kind": "exchange",
        "label": "My exchange",
        "credentials": {"exchange": "kraken", "api_key": "k", "api_secret": "s", "passphrase": "p\nX=1"},
    }
    response = await api.post("/api/v1/brokers", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert "passphrase" in response.json()["detail"]


async def test_printable_secrets_with_spaces_and_symbols_are_accepted(
    api: httpx.AsyncClient, auth: dict[str, str], bus: Bus
) -> None:
    response = await api.post("/api/v1/brokers", json=alpaca("sk live/+=_-~ ÄÖ 0123"), headers=auth)
    assert response.status_code == 202, response.text
