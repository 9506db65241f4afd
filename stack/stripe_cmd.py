"""``hmmtrade stripe-emulator``: run the local Stripe, or fire one event at a running one."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

import httpx

from stack.fly_local import load_or_create_token

DEFAULT_PORT = 12111  # stripe-mock's port: Stripe tooling people know it


def run_emulator(host: str, port: int, webhook_url: str | None, state_file: Path | None) -> int:
    from billing.emulator import StripeEmulator
    from billing.settings import EMULATOR_SECRET_KEY

    secret = os.environ.get("STRIPE_WEBHOOK_SECRET")
    if webhook_url and not secret:
        print("error: set STRIPE_WEBHOOK_SECRET (whsec_…) to sign the webhooks", file=sys.stderr)
        return 2
    emulator = StripeEmulator(
        host=host,
        port=port,
        secret_key=os.environ.get("STRIPE_SECRET_KEY", EMULATOR_SECRET_KEY),
        webhook_url=webhook_url,
        webhook_secret=secret,
        state_file=state_file,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    where = f"webhooks to {webhook_url}" if webhook_url else "no webhook endpoint"
    print(f"stripe emulator on {emulator.url} ({where})", flush=True)
    stop.wait()
    emulator.stop()
    return 0


def stripe_for_up(
    data_dir: Path, api_base_url: str, cli: list[str], log_path: Path
) -> tuple[dict[str, str], list[str] | None, str]:
    """``hmmtrade up``'s Stripe: (env for the services, emulator argv or None, the line to print).

    With ``STRIPE_API_BASE`` or a real ``STRIPE_SECRET_KEY`` set, Stripe is external and the
    environment passes through; otherwise an emulator on port 12111 (or a free one) with a
    webhook secret kept in the data dir signs webhooks to this API.
    """
    from billing.settings import EMULATOR_SECRET_KEY
    from events.embedded import free_port, port_is_free

    webhook_url = f"{api_base_url}/api/v1/stripe/webhook"
    key = os.environ.get("STRIPE_SECRET_KEY")
    if os.environ.get("STRIPE_API_BASE") or (key and not key.startswith(EMULATOR_SECRET_KEY)):
        where = os.environ.get("STRIPE_API_BASE") or "api.stripe.com"
        return {"HMMTRADE_PUBLIC_URL": api_base_url}, None, f"{where} (external; webhooks: {webhook_url})"
    secret_file = data_dir / "keys" / "stripe-webhook-secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(f"whsec_{secrets.token_hex(24)}")
        secret_file.chmod(0o600)
    # a key of this data dir's own, not the well-known default: it also guards the emulator's
    # controls (a web page that guessed the default could still not send it: no CORS)
    secret_key = load_or_create_token(
        emulator_key_file(data_dir), lambda: f"{EMULATOR_SECRET_KEY}_{secrets.token_hex(16)}"
    )
    port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    env = {
        "STRIPE_API_BASE": emulator_url,
        "STRIPE_SECRET_KEY": secret_key,
        "STRIPE_WEBHOOK_SECRET": secret_file.read_text().strip(),
        "HMMTRADE_PUBLIC_URL": api_base_url,
    }
    argv = [
        *cli,
        "stripe-emulator",
        "--port",
        str(port),
        "--webhook-url",
        webhook_url,
        "--state-file",
        str(data_dir / "stripe-emulator.json"),
    ]
    return env, argv, f"{emulator_url}  (emulator; webhooks to {webhook_url}; logs: {log_path})"


def emulator_key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "stripe-emulator-secret-key"


def trigger(event: str, email: str, plan: str, emulator_url: str | None, data_dir: Path | None = None) -> int:
    """Like ``stripe trigger EVENT``: the emulator brings the event about for that customer.

    Authenticated with ``STRIPE_SECRET_KEY``, else the key ``hmmtrade up`` keeps in ``data_dir``,
    else the emulator's default key.
    """
    from billing.settings import EMULATOR_SECRET_KEY

    base = (emulator_url or os.environ.get("STRIPE_API_BASE") or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")
    key_file = emulator_key_file(data_dir) if data_dir is not None else None
    key = os.environ.get("STRIPE_SECRET_KEY") or (
        key_file.read_text().strip() if key_file is not None and key_file.exists() else EMULATOR_SECRET_KEY
    )
    try:
        response = httpx.post(
            f"{base}/_emulator/trigger",
            json={"event": event, "email": email, "plan": plan},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        print(
            f"error: no Stripe emulator at {base} ({exc}); start one with `hmmtrade stripe-emulator`", file=sys.stderr
        )
        return 1
    body = response.json()
    if response.status_code != 200:
        print(f"error: {body.get('error', {}).get('message', response.text)}", file=sys.stderr)
        return 1
    for event_id in body["events"]:
        print(event_id)
    return 0
