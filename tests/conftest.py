"""Shared fixtures: a real Postgres (one per session), a real nats-server (one per test),
the API in-process over ASGI, and the workers in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from agent.live import LiveFeed
from api.app import create_app
from api.settings import ApiSettings
from api.tokens import load_or_create_key_file
from events.auth.roles import Role
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import ensure_topology
from fly.backoff import RetryPolicy
from fly.client import FlyMachines
from fly.emulator import FlyEmulator
from stack.logging import configure_logging
from store.embedded import start_embedded_postgres
from store.migrate import migrate
from tests.busauth import BUS_KEY_FILE, BUS_KEYS, creds_file, use_admin_by_default
from tests.flyutil import TOKEN as FLY_TOKEN
from vault.emulator import KmsEmulator
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings

T = TypeVar("T")

configure_logging(level="WARNING", json_lines=False, service="tests")
use_admin_by_default()

# Redeliveries after a killed worker wait this long; short so fault tests are quick.
TEST_ACK_WAIT_S = 2.0
# A killed worker's singletons (lifecycle projection, wake scheduler) move to its successor after
# this long; every worker the tests start, in process or spawned, reads it from the environment.
os.environ.setdefault("HMMTRADE_LEASE_TTL_S", "3")

VALID_PROFILE: dict[str, Any] = {
    "basics": {"name": "Test bot", "surface": "local", "mode": "paper"},
    "broker": {"connection": "paper"},
    "market": {"symbols": ["SPY"], "bar_interval": "1d", "asset_class": "stock", "data_source": "sp500"},
    "model": {"n_states": 3, "features": ["log_return", "realized_vol"], "training_window": 504},
    "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0]},
    "schedule": {"confirmed": True},
}


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 15.0, interval_s: float = 0.05, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or probe}; last value {last!r}")


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("TEST_DATABASE_URL"):
        dsn = os.environ["TEST_DATABASE_URL"]
    else:
        dsn, _server = start_embedded_postgres(tmp_path_factory.mktemp("postgres"))
    asyncio.run(migrate(dsn))
    SESSION_DSN[:] = [dsn]
    return dsn


SESSION_DSN: list[str] = []  # the session's database, for helpers that act as an operator


async def set_tier(api: httpx.AsyncClient, headers: dict[str, str], tier: str) -> None:
    """What ``hmmtrade users set-tier`` does, for the user behind ``headers``; returns once the
    API's own view of the user (its user cache, told by Postgres NOTIFY) shows the new tier."""
    me = await api.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    conn = await asyncpg.connect(SESSION_DSN[0])
    try:
        await conn.execute("UPDATE users SET tier = $2 WHERE id = $1", uuid.UUID(me.json()["id"]), tier)
    finally:
        await conn.close()

    async def seen() -> bool:
        return (await api.get("/api/v1/me", headers=headers)).json().get("tier") == tier

    await wait_for(seen, timeout_s=30, what=f"the API to see tier {tier}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats", keys=BUS_KEYS).start()
    yield server
    server.stop()


@pytest.fixture
async def feed(nats_server: NatsServer) -> AsyncIterator[LiveFeed]:
    """The agent's live view of the test bus (topology declared first)."""
    client = Bus(nats_server.url, name="test-topology")
    await client.start(wait_s=5)
    await ensure_topology(client.js)
    await client.close()
    live = LiveFeed()
    await live.start(nats_server.url)
    yield live
    await live.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwt.pem"
    load_or_create_key_file(path)
    return path


@pytest.fixture
def kms_emulator(tmp_path: Path) -> Iterator[KmsEmulator]:
    """The local Cloud KMS on a free loopback port, its key file in the test's tmp dir."""
    emulator = KmsEmulator(tmp_path / "kms" / "keys.json").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def machine_key_dir(tmp_path: Path) -> Path:
    return tmp_path / "machine-keys"


@pytest.fixture
def api_settings(
    nats_server: NatsServer, pg_dsn: str, key_file: Path, kms_emulator: KmsEmulator, machine_key_dir: Path
) -> ApiSettings:
    return ApiSettings(
        KMS_ENDPOINT=kms_emulator.endpoint,
        KMS_EMULATOR_TOKEN=kms_emulator.token,
        HMMTRADE_MACHINE_JWT_KEY_DIR=machine_key_dir,
        HMMTRADE_ENV="test",
        NATS_URL=nats_server.url,
        NATS_CREDS=creds_file(Role.API),
        HMMTRADE_BUS_KEY_FILE=BUS_KEY_FILE,
        DATABASE_URL=pg_dsn,
        HMMTRADE_JWT_PRIVATE_KEY_FILE=key_file,
        HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE=1000,
        HMMTRADE_SIGNUPS_PER_HOUR=1000,
        HMMTRADE_PUBLISH_TIMEOUT_S=1.0,
    )


@pytest.fixture
def worker_settings(nats_server: NatsServer, pg_dsn: str) -> WorkerSettings:
    return WorkerSettings(
        NATS_URL=nats_server.url,
        NATS_CREDS=creds_file(Role.WORKERS),
        HMMTRADE_BUS_KEY_FILE=BUS_KEY_FILE,
        DATABASE_URL=pg_dsn,
        HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
    )


@pytest.fixture
async def api(api_settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def workers(worker_settings: WorkerSettings) -> AsyncIterator[WorkerRuntime]:
    runtime = await start_workers(worker_settings)
    yield runtime
    with contextlib.suppress(Exception):
        await runtime.stop()


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    client = Bus(nats_server.url, name="test-bus")
    await client.start(wait_s=5)
    yield client
    await client.close()


async def signup_and_login(api: httpx.AsyncClient, email: str | None = None) -> dict[str, str]:
    """A new user; returns the Authorization header for them."""
    email = email or f"trader-{uuid.uuid4().hex[:12]}@example.com"
    creds = {"email": email, "password": "correct horse battery"}
    signup = await api.post("/api/v1/auth/signup", json=creds)
    assert signup.status_code == 201, signup.text
    login = await api.post("/api/v1/auth/login", json=creds)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return await signup_and_login(api)


async def intent_settled(
    api: httpx.AsyncClient, headers: dict[str, str], intent_id: str, *, timeout_s: float = 15.0
) -> dict[str, Any]:
    """Poll the intent until it is done or failed; return its body."""

    async def probe() -> dict[str, Any] | None:
        response = await api.get(f"/api/v1/intents/{intent_id}", headers=headers)
        if response.status_code == 200 and response.json()["status"] != "accepted":
            return dict(response.json())
        return None

    return await wait_for(probe, timeout_s=timeout_s, what=f"intent {intent_id} to settle")


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    """The Fly Machines emulator (bearer token ``FLY_TOKEN``), its state in the test's tmp dir."""
    async with FlyEmulator(token=FLY_TOKEN, data_dir=tmp_path / "fly") as emu:
        yield emu


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test that ran hosted bots shows what each emulated machine printed: a machine that
    never stopped or never booted is otherwise a bare timeout in a CI log."""
    outcome = yield
    report = outcome.get_result()
    emu = getattr(item, "funcargs", {}).get("emulator")
    if report.failed and isinstance(emu, FlyEmulator):
        report.sections.append(("Fly machine logs (last 80 lines each)", _machine_log_tails(emu.machines.data_dir)))


def _machine_log_tails(data_dir: Path, lines: int = 80) -> str:
    tails = []
    for log in sorted((data_dir / "machines").glob("*/machine.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log.parent.name} ---\n" + "\n".join(text))
    return "\n".join(tails) or "(no machine logs)"


@pytest.fixture
async def fly(emulator: FlyEmulator) -> AsyncIterator[FlyMachines]:
    """The real Machines client against ``emulator``, with short retry delays."""
    async with httpx.AsyncClient() as http:
        retry = RetryPolicy(base_delay_s=0.05)
        yield FlyMachines(http, app_name=emulator.app_name, token=FLY_TOKEN, base_url=emulator.url, retry=retry)
