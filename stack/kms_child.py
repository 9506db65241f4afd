"""``hmmtrade up``'s KMS: the emulator as a supervised child, unless ``KMS_ENDPOINT`` is set."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import httpx

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


def wait_kms_ready(endpoint: str, key_name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{endpoint}/v1/{key_name}", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the KMS emulator did not answer at {endpoint} after {timeout_s}s")


__all__ = ["DEFAULT_KEY_NAME", "emulator_argv", "free_port", "wait_kms_ready"]
