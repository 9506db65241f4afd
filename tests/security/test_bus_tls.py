"""The stack runs over a TLS bus: the API and workers verify the server against its CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.errors import Error as NatsError
from nats.errors import NoServersError

from events.auth.roles import Role
from events.embedded import NatsServer
from stack.local_ca import make_local_ca
from tests.busauth import BUS_KEYS, creds_file
from tests.conftest import VALID_PROFILE, intent_settled
from workers.app import WorkerRuntime


@pytest.fixture
def nats_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    """This module's bus requires TLS; every client here trusts its private CA (NATS_CA)."""
    tls = make_local_ca(tmp_path / "tls")
    monkeypatch.setenv("NATS_CA", str(tls.ca_file))
    server = NatsServer(tmp_path / "nats", keys=BUS_KEYS, tls=tls).start()
    yield server
    server.stop()


async def test_intents_round_trip_over_tls(
    api: httpx.AsyncClient, auth: dict[str, str], workers: WorkerRuntime, nats_server: NatsServer
) -> None:
    assert nats_server.url.startswith("tls://")
    created = await api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    settled = await intent_settled(api, auth, created.json()["intent_id"])
    assert settled["status"] == "done", settled


async def test_a_plaintext_or_unverified_client_is_refused(nats_server: NatsServer, tmp_path: Path) -> None:
    plaintext = f"nats://{nats_server.host}:{nats_server.port}"
    creds = str(creds_file(Role.ADMIN))
    with pytest.raises((NatsError, NoServersError, OSError)):
        await nats.connect(plaintext, user_credentials=creds, allow_reconnect=False, connect_timeout=2)
    # TLS, but trusting another CA: the server's certificate does not verify.
    other = make_local_ca(tmp_path / "other")
    import ssl

    with pytest.raises((NatsError, NoServersError, OSError, ssl.SSLError)):
        await nats.connect(
            nats_server.url,
            user_credentials=creds,
            tls=ssl.create_default_context(cafile=str(other.ca_file)),
            allow_reconnect=False,
            connect_timeout=2,
        )
