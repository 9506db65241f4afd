"""The Stripe emulator's controls need its secret key: a web page's ``text/plain`` POST (no CORS
preflight) cannot change a local user's plan; the real client and the CLI keep working."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stripe import StripeClient

from billing.emulator import StripeEmulator
from billing.settings import EMULATOR_SECRET_KEY
from stack.stripe_cmd import emulator_key_file, stripe_for_up

KEY = f"{EMULATOR_SECRET_KEY}_this_test"
TRIGGER = {"event": "checkout.session.completed", "email": "victim@example.com", "plan": "team"}


@pytest.fixture
def emulator() -> Iterator[StripeEmulator]:
    em = StripeEmulator(secret_key=KEY).start()
    yield em
    em.stop()


def test_a_trigger_without_or_with_a_wrong_key_is_401_and_changes_nothing(emulator: StripeEmulator) -> None:
    body = json.dumps(TRIGGER)
    attempts = [
        httpx.post(f"{emulator.url}/_emulator/trigger", content=body, headers={"Content-Type": "text/plain"}),
        httpx.post(f"{emulator.url}/_emulator/trigger", json=TRIGGER),
        httpx.post(f"{emulator.url}/_emulator/trigger", json=TRIGGER, headers={"Authorization": "Bearer sk_wrong"}),
        httpx.post(
            f"{emulator.url}/_emulator/trigger",
            json=TRIGGER,
            headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"},
        ),  # the public default key
        httpx.get(f"{emulator.url}/_emulator/deliveries"),
    ]
    for response in attempts:
        assert response.status_code == 401, response.text
        assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert emulator.state.events == [] and emulator.state.customer_by_email(TRIGGER["email"]) is None

    allowed = httpx.post(f"{emulator.url}/_emulator/trigger", json=TRIGGER, headers={"Authorization": f"Bearer {KEY}"})
    assert allowed.status_code == 200, allowed.text
    assert [e["type"] for e in emulator.state.events if e["id"] in allowed.json()["events"]]


def test_stripe_api_calls_need_the_configured_key_and_the_real_client_sends_it(emulator: StripeEmulator) -> None:
    wrong = httpx.post(f"{emulator.url}/v1/customers", data={"email": "x@example.com"},
                       headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"})  # fmt: skip
    assert wrong.status_code == 401 and emulator.state.customer_by_email("x@example.com") is None
    client = StripeClient(KEY, base_addresses={"api": emulator.url})
    customer = client.v1.customers.create({"email": "x@example.com"})
    assert emulator.state.customer_by_email("x@example.com")["id"] == customer.id


def test_up_keeps_a_key_of_its_own_0600_and_the_trigger_cli_finds_it(tmp_path: Path) -> None:
    env, argv, _ = stripe_for_up(tmp_path, "http://127.0.0.1:9", ["hmmtrade"], tmp_path / "log")
    key_file = emulator_key_file(tmp_path)
    assert argv is not None and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert env["STRIPE_SECRET_KEY"] == key_file.read_text() != EMULATOR_SECRET_KEY
    assert stripe_for_up(tmp_path, "http://127.0.0.1:9", ["hmmtrade"], tmp_path / "log")[0] == env  # stable

    em = StripeEmulator(secret_key=env["STRIPE_SECRET_KEY"]).start()
    try:
        cli = [sys.executable, "-m", "stack.cli", "stripe-emulator", "trigger", "checkout.session.completed", "--email",
               "cli@example.com", "--emulator", em.url]  # fmt: skip
        env_without_key = {k: v for k, v in os.environ.items() if k != "STRIPE_SECRET_KEY"}
        refused = subprocess.run(cli, capture_output=True, text=True, timeout=30, check=False, env=env_without_key)
        assert refused.returncode == 1 and "Authorization" in refused.stderr
        ran = subprocess.run([*cli, "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30,
                             check=False, env=env_without_key)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    finally:
        em.stop()
