"""The control plane as real processes (``hmmtrade api`` and ``hmmtrade workers``), for fault
tests that SIGKILL them: each child logs JSON to its own file, and a restarted API comes back
on the same port, because hosted bots' machines were told that URL when they booted."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.settings import ApiSettings
from events.auth.roles import Role
from events.embedded import free_port
from stack.kms_child import wait_kms_ready
from tests.busauth import BUS_KEY_FILE, creds_file
from tests.conftest import TEST_ACK_WAIT_S
from vault.emulator.server import DEFAULT_KEY_NAME

REPO = Path(__file__).resolve().parents[1]


class Child:
    """One ``python -m stack.cli <command>`` process, its output in ``log_path``."""

    def __init__(self, command: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stack.cli", *command],
                cwd=REPO,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait: the exit code (0 is a clean drain)."""
        if self.alive:
            self.process.terminate()
        return self.process.wait(30)


@dataclass
class ControlPlane:
    """Starts (and restarts) the API and the workers with one shared environment."""

    env: dict[str, str]
    home: Path
    api_port: int = field(default_factory=free_port)
    children: list[Child] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _spawn(self, name: str, command: list[str], extra: Mapping[str, str]) -> Child:
        child = Child(command, {**self.env, **extra}, self.home / f"{name}-{len(self.children)}.log")
        self.children.append(child)
        return child

    async def start_api(self) -> Child:
        child = self._spawn("api", ["api", "--host", "127.0.0.1", "--port", str(self.api_port)], {})
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                try:
                    if (await http.get(f"{self.api_url}/readyz")).status_code == 200:
                        return child
                except httpx.HTTPError:
                    pass
                assert child.alive and time.monotonic() < deadline, f"the API did not come up:\n{child.log()[-3000:]}"
                await asyncio.sleep(0.1)

    async def start_workers(self, failpoints: str = "") -> Child:
        child = self._spawn("workers", ["workers"], {"HMMTRADE_FAILPOINTS": failpoints})
        deadline = time.monotonic() + 60
        while '"workers.started"' not in child.log():
            assert child.alive and time.monotonic() < deadline, f"the workers did not start:\n{child.log()[-3000:]}"
            await asyncio.sleep(0.1)
        return child

    def kill_all(self) -> None:
        for child in self.children:
            if child.alive:
                child.kill9()


def control_plane_env(**settings: str | Path) -> dict[str, str]:
    """This process's environment plus the given settings, with JSON logs (tests grep them)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HMMTRADE_", "FLY_", "KMS_"))}
    env.update({"HMMTRADE_LOG_JSON": "1", "HMMTRADE_ENV": "test", "HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE": "1000"})
    env.update({"HMMTRADE_SIGNUPS_PER_HOUR": "1000"})
    # The session's bus keys: the API signs hosted bots' bus credentials, the workers revoke them.
    env.update({"HMMTRADE_BUS_KEY_FILE": str(BUS_KEY_FILE)})
    env.update({key: str(value) for key, value in settings.items()})
    return env


def replica_envs(api_settings: ApiSettings, **api_extra: str) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of API and worker replicas that share the conftest API's bus, database,
    KMS and signing keys (a token one replica issued works on every other)."""
    assert api_settings.kms_endpoint and api_settings.kms_emulator_token and api_settings.jwt_private_key_file
    assert api_settings.machine_jwt_key_dir is not None
    shared = control_plane_env(
        NATS_URL=api_settings.nats_url,
        DATABASE_URL=api_settings.database_url,
        KMS_ENDPOINT=api_settings.kms_endpoint,
        KMS_EMULATOR_TOKEN=api_settings.kms_emulator_token.get_secret_value(),
        HMMTRADE_ACK_WAIT_S=str(TEST_ACK_WAIT_S),
    )
    api_env = {
        **shared,
        "NATS_CREDS": str(creds_file(Role.API)),
        "HMMTRADE_JWT_PRIVATE_KEY_FILE": str(api_settings.jwt_private_key_file),
        "HMMTRADE_MACHINE_JWT_KEY_DIR": str(api_settings.machine_jwt_key_dir),
        **api_extra,
    }
    return api_env, {**shared, "NATS_CREDS": str(creds_file(Role.WORKERS))}


class KmsProcess:
    """``hmmtrade kms-emulator`` as a child process on a fixed port and key file: killable,
    and restartable as the same service (same port, same keys)."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.port = free_port()
        self.token = secrets.token_urlsafe(32)  # kept across restarts, as `hmmtrade up` keeps its data dir's
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "stack.cli", "kms-emulator", "--port", str(self.port)]
        argv += ["--key-file", str(self.key_file), "--key", DEFAULT_KEY_NAME]
        env = {**os.environ, "KMS_EMULATOR_TOKEN": self.token}
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_kms_ready(self.endpoint, DEFAULT_KEY_NAME, self.token)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
