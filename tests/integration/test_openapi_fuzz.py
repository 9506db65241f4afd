"""schemathesis fuzzes every operation of the real API (a uvicorn process on loopback).

Checks: no 5xx, every status code and content type documented, every response body and
header matching its schema, invalid input rejected with a 4xx, auth enforced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import load_or_create_key_file
from billing.emulator import StripeEmulator
from events.embedded import NatsServer, free_port
from tests.busauth import BUS_KEYS
from tests.conftest import VALID_PROFILE
from vault.emulator import KmsEmulator

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz")
    nats = NatsServer(home / "nats", keys=BUS_KEYS).start()
    kms = KmsEmulator(home / "kms" / "keys.json").start()  # so broker routes are fuzzed past the KMS
    key = home / "jwt.pem"
    load_or_create_key_file(key)
    port = free_port()
    stripe = StripeEmulator().start()  # checkout and portal calls reach a (local) Stripe
    env = {
        **os.environ,
        "NATS_URL": nats.url,
        "DATABASE_URL": pg_dsn,
        "HMMTRADE_JWT_PRIVATE_KEY_FILE": str(key),
        "HMMTRADE_ENV": "test",
        "HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE": "10000",
        "HMMTRADE_SIGNUPS_PER_HOUR": "100000",
        "HMMTRADE_LOG_LEVEL": "WARNING",
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_WEBHOOK_SECRET": "whsec_fuzz_only",
        "KMS_ENDPOINT": kms.endpoint,
        "KMS_EMULATOR_TOKEN": kms.token,
        "HMMTRADE_MACHINE_JWT_KEY_DIR": str(home / "machine-keys"),
    }
    log = (home / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "stack.cli", "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, Path(log.name).read_text()
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(20)
    kms.stop()
    nats.stop()
    stripe.stop()


@pytest.fixture(scope="module")
def auth_headers(api_server: str) -> dict[str, str]:
    with httpx.Client(base_url=api_server) as http:
        creds = {"email": "fuzz@example.com", "password": "correct horse battery"}
        http.post("/api/v1/auth/signup", json=creds)
        token = http.post("/api/v1/auth/login", json=creds).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # a real bot, so reads and lifecycle calls on known ids are reachable too
        http.post("/api/v1/bots", json=VALID_PROFILE, headers=headers).raise_for_status()
        return headers


# The spec is taken from the app object (no I/O happens until its lifespan runs); the
# requests go to the real server process started by the fixture.
schema = schemathesis.openapi.from_dict(create_app(ApiSettings(HMMTRADE_ENV="test")).openapi())


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_spec(
    case: schemathesis.Case, api_server: str, auth_headers: dict[str, str]
) -> None:
    case.call_and_validate(base_url=api_server, headers=auth_headers, checks=CHECKS, timeout=10)
