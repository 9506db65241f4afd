"""``hmmtrade up``'s KMS: the emulator as a supervised child, unless ``KMS_ENDPOINT`` is set.

The emulator's token is generated once per data dir (``keys/kms-emulator-token``, 0600) and
reaches the emulator and the services as ``KMS_EMULATOR_TOKEN`` in their environment, never on
a command line (which any local user can read in ``ps``).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import httpx

from stack.fly_local import load_or_create_token
from vault.emulator.server import DEFAULT_KEY_NAME


def free_port(preferred: int = 8470, host: str = "127.0.0.1") -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port for the KMS emulator")


def emulator_argv(data_dir: Path, port: int, key_name: str) -> list[str]:
    key_file = data_dir / "kms" / "keys.json"
    return [
        sys.executable,
        "-m",
        "stack.cli",
        "kms-emulator",
        "--port",
        str(port),
        "--key-file",
        str(key_file),
        "--key",
        key_name,
    ]


def emulator_token(data_dir: Path) -> str:
    """The data dir's KMS emulator token (created 0600 on first use)."""
    return load_or_create_token(data_dir / "keys" / "kms-emulator-token")


def wait_kms_ready(endpoint: str, key_name: str, token: str, timeout_s: float = 30.0) -> None:
    """Poll until the emulator serves ``key_name`` to a caller holding ``token``."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {token}"}
    status: int | None = None
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"{endpoint}/v1/{key_name}", headers=headers, timeout=1.0).status_code
        except httpx.HTTPError:
            status = None
        if status == 200:
            return
        if status == 401:  # waiting longer will not change the token
            raise RuntimeError(f"the KMS emulator at {endpoint} refused the token (401): is another emulator there?")
        time.sleep(0.1)
    raise RuntimeError(f"the KMS emulator did not answer at {endpoint} after {timeout_s}s (last status {status})")


__all__ = ["DEFAULT_KEY_NAME", "emulator_argv", "emulator_token", "free_port", "wait_kms_ready"]
