"""The Fly Machines side of the local stack: ``hmmtrade fly-emulator``, and what ``hmmtrade up`` needs to
start it and point the other services at it.

``up`` runs the emulator unless ``FLY_API_HOSTNAME`` is set (then the real Fly, or any other
Machines API, is used with ``FLY_API_TOKEN`` and ``FLY_APP_NAME`` from the environment). The
emulator's token is generated once per data dir (``keys/fly-emulator-token``, mode 0600) and
handed to the services in their environment, never printed.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from events.embedded import free_port, port_is_free

DEFAULT_EMULATOR_PORT = 4280
DEFAULT_APP_NAME = "hmmtrade-bots"


@dataclass(frozen=True)
class FlyTarget:
    """Where the services find the Machines API; ``argv`` is the emulator to start, or None when external."""

    url: str
    app_name: str
    token: str
    argv: list[str] | None

    def service_env(self) -> dict[str, str]:
        return {"FLY_API_HOSTNAME": self.url, "FLY_API_TOKEN": self.token, "FLY_APP_NAME": self.app_name}

    def describe(self) -> str:
        if self.argv is None:
            return f"{self.url}  (external, app {self.app_name})"
        return f"{self.url}  (Machines API emulator, app {self.app_name})"


def fly_target(data_dir: Path, environ: Mapping[str, str] | None = None) -> FlyTarget:
    """The external Machines API named by FLY_API_HOSTNAME, or a local emulator under ``data_dir/fly``."""
    environ = os.environ if environ is None else environ
    app_name = environ.get("FLY_APP_NAME") or DEFAULT_APP_NAME
    external = environ.get("FLY_API_HOSTNAME")
    if external:
        return FlyTarget(url=external.rstrip("/"), app_name=app_name, token=environ.get("FLY_API_TOKEN", ""), argv=None)
    port = DEFAULT_EMULATOR_PORT if port_is_free(DEFAULT_EMULATOR_PORT) else free_port()
    argv = [sys.executable, "-m", "stack.cli", "fly-emulator", "--port", str(port), "--data-dir", str(data_dir / "fly")]
    token = load_or_create_token(data_dir / "keys" / "fly-emulator-token")
    return FlyTarget(url=f"http://127.0.0.1:{port}", app_name=app_name, token=token, argv=argv)


def load_or_create_token(path: Path, make: Callable[[], str] | None = None) -> str:
    """The token kept in ``path`` (created 0600 with ``make()``, default 256 random bits, if missing)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = make() if make is not None else secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def wait_emulator_ready(url: str, exited: Callable[[], bool], *, log_path: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited():
            raise RuntimeError(f"the Fly emulator exited during start-up; see {log_path}")
        try:
            if httpx.get(f"{url}/_emulator/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the Fly emulator was not ready at {url} after {timeout_s}s; see {log_path}")


def run_fly_emulator(*, host: str, port: int, data_dir: Path | None, images: Path | None) -> int:
    """``hmmtrade fly-emulator``: serve until SIGINT/SIGTERM."""
    from fly.emu_images import ImageTable
    from fly.emulator import serve

    token = os.environ.get("FLY_API_TOKEN", "")
    if not token:
        print(
            "error: set FLY_API_TOKEN: the emulator accepts exactly that bearer token (any string will do locally)",
            file=sys.stderr,
        )
        return 2
    try:
        table = ImageTable.from_file(images) if images else ImageTable()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not port_is_free(port, host):
        print(f"error: port {port} on {host} is taken: pass --port N", file=sys.stderr)
        return 2
    app_name = os.environ.get("FLY_APP_NAME") or DEFAULT_APP_NAME
    where = f"data in {data_dir.resolve()}" if data_dir else "in memory: nothing survives a restart"
    print(f"fly-emulator http://{host}:{port}  app {app_name}  ({where})", flush=True)
    serve(
        token=token,
        host=host,
        port=port,
        data_dir=data_dir.resolve() if data_dir else None,
        app_name=app_name,
        images=table,
    )
    return 0
