"""``hmmtrade stripe-emulator`` runs the emulator; ``… trigger EVENT --email USER`` fires one event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.settings import StripeSettings
from events.embedded import free_port, stop_process
from tests.conftest import signup_and_login
from tests.integration.billing.conftest import WEBHOOK_SECRET, wait_for_plan

CLI = [sys.executable, "-m", "stack.cli", "stripe-emulator"]


@pytest.fixture
def cli_emulator(api_port: int, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    out = tmp_path / "emulator.out"
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    webhook = f"http://127.0.0.1:{api_port}/api/v1/stripe/webhook"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [*CLI, "--port", str(port), "--webhook-url", webhook], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while "stripe emulator on" not in out.read_text():
        assert process.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    assert f"webhooks to {webhook}" in out.read_text()
    yield f"http://127.0.0.1:{port}"
    stop_process(process, 10)


@pytest.fixture
def stripe_settings(cli_emulator: str, api_port: int) -> StripeSettings:  # the API and workers use the CLI's
    return StripeSettings(
        STRIPE_API_BASE=cli_emulator,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        HMMTRADE_PUBLIC_URL=f"http://127.0.0.1:{api_port}",
    )


def _trigger(emulator: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "trigger", *args, "--emulator", emulator], capture_output=True, text=True, timeout=30, check=False
    )


async def test_trigger_drives_a_users_plan_through_the_real_webhook_path(
    cli_emulator: str, live_api: httpx.AsyncClient, billing_workers: Any
) -> None:
    email = "triggered@example.com"
    auth = await signup_and_login(live_api, email)
    done = _trigger(cli_emulator, "checkout.session.completed", "--email", email, "--plan", "team")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 3 and all(i.startswith("evt_") for i in done.stdout.split())
    await wait_for_plan(live_api, auth, "team", "active")

    failed = _trigger(cli_emulator, "invoice.payment_failed", "--email", email)
    assert failed.returncode == 0, failed.stderr
    await wait_for_plan(live_api, auth, "team", "past_due")

    gone = _trigger(cli_emulator, "customer.subscription.deleted", "--email", email)
    assert gone.returncode == 0, gone.stderr
    await wait_for_plan(live_api, auth, "free", "canceled")

    nothing_left = _trigger(cli_emulator, "invoice.paid", "--email", email)
    assert nothing_left.returncode == 1 and "no live subscription" in nothing_left.stderr
    unknown = _trigger(cli_emulator, "charge.refunded", "--email", email)
    assert unknown.returncode == 1 and "supported:" in unknown.stderr


def test_trigger_without_an_emulator_says_how_to_start_one() -> None:
    result = _trigger(f"http://127.0.0.1:{free_port()}", "invoice.paid", "--email", "x@example.com")
    assert result.returncode == 1 and "hmmtrade stripe-emulator" in result.stderr
