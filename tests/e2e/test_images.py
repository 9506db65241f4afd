"""The real container images: `./dev images` builds both from the Dockerfiles production uses, then

- a hosted bot boots from the bot image (its ENTRYPOINT, run by ``buildah run`` through the Fly Machines
  emulator: deploy/image_run.py is the emulated image's entrypoint), its first audit record arrives through the
  API, and SIGTERM makes it flush and exit 0;
- the control-plane image's ENTRYPOINT (``hmmtrade api``) serves 200 on /readyz against the test's bus and Postgres.

Containers share the host's network (loopback services) and see the host's temp folder (the test's key and
credential files, the embedded Postgres socket) at the same path. The build is buildah's layer cache after the
first run; a run from nothing debootstraps a base and installs both locks (minutes: docs/hosted-image.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from api.settings import ApiSettings
from events.embedded import free_port
from fly.client import FlyMachines
from fly.emu_images import ImageSpec, ImageTable
from fly.emulator import FlyEmulator
from tests.conftest import FLY_TOKEN, wait_for
from tests.hostedstack import Cloud, hosted_cloud
from tests.hostedutil import HOSTED_PROFILE, audit_records, audit_through, bot_view, hosted_user

REPO = Path(__file__).resolve().parents[2]
CONTROL_PLANE_IMAGE = "localhost/hmmtrade:test"
BOT_IMAGE = "localhost/hmmtrade-bot:test"
IMAGE_RUN = str(REPO / "deploy" / "image_run.py")
HOST_TMP = tempfile.gettempdir()

pytestmark = [
    pytest.mark.images,
    pytest.mark.skipif(
        shutil.which("buildah") is None,
        reason="buildah is not installed (apt-get install buildah debootstrap; .ci/run installs both)",
    ),
    pytest.mark.timeout(1800),  # the first build of a clean machine; later runs reuse every layer
]


@pytest.fixture(scope="module")
def built_images() -> None:
    """`./dev images`' script, tagged for the tests; it reuses the base image and buildah's layer cache."""
    env = {**os.environ, "HMMTRADE_IMAGE": CONTROL_PLANE_IMAGE, "HMMTRADE_BOT_IMAGE": BOT_IMAGE}
    done = subprocess.run([str(REPO / "deploy" / "images.sh")], env=env, capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, f"deploy/images.sh failed:\n{done.stdout}\n{done.stderr[-4000:]}"


@pytest.fixture
async def emulator(built_images: None, tmp_path: Path) -> AsyncIterator[FlyEmulator]:
    """The Fly Machines emulator whose every image is the built bot image, run by ``buildah run``."""
    table = ImageTable(images={}, default=ImageSpec(entrypoint=("python", IMAGE_RUN, BOT_IMAGE)))
    async with FlyEmulator(token=FLY_TOKEN, data_dir=tmp_path / "fly", images=table) as emu:
        yield emu
    _remove_containers_of(BOT_IMAGE)  # a machine killed (not stopped) leaves its working container behind


def _remove_containers_of(image: str) -> None:
    listed = subprocess.run(["buildah", "containers", "--format", "{{.ContainerID}} {{.ImageName}}"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    for line in listed.splitlines():
        container, _, name = line.partition(" ")
        if name.strip() == image:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


@pytest.fixture
async def cloud(
    api_settings: ApiSettings, emulator: FlyEmulator, machine_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    async with hosted_cloud(api_settings, emulator, machine_key_dir, monkeypatch) as running:
        yield running


async def test_a_hosted_bot_boots_from_the_bot_image_reports_audit_and_exits_0_on_sigterm(
    cloud: Cloud, db: asyncpg.Connection, fly: FlyMachines, emulator: FlyEmulator
) -> None:
    api = cloud.api
    auth = await hosted_user(api, db, "pro")
    created = await api.post("/api/v1/bots", json=HOSTED_PROFILE, headers=auth)
    assert created.status_code == 202, created.text
    bot_id = created.json()["bot_id"]
    [machine] = await wait_for(lambda: _machines(fly, bot_id), timeout_s=60, what="the bot's machine")
    records = await wait_for(lambda: audit_records(api, auth, bot_id), timeout_s=240, what="the first audit record")
    assert records[0]["seq"] == 1
    log = emulator.log_path(machine.id).read_text()
    assert f"booting: {sys.executable} {IMAGE_RUN} {BOT_IMAGE}" in log  # the image ran, not this checkout

    stop = await api.post(f"/api/v1/bots/{bot_id}/stop", headers=auth)
    assert stop.status_code == 202
    await fly.wait(machine.id, "stopped", timeout_s=90)
    log = emulator.log_path(machine.id).read_text()
    assert "SIGTERM received" in log and "main process exited with code 0" in log, log[-3000:]
    assert (await bot_view(api, auth, bot_id))["status"] == "stopped"
    last_logged = max(int(line.split("seq=")[1].split()[0]) for line in log.splitlines() if "seq=" in line)
    audit = await wait_for(
        lambda: audit_through(api, auth, bot_id, last_logged), timeout_s=30, what="the flushed audit in Postgres"
    )
    assert [r["seq"] for r in audit] == list(range(1, len(audit) + 1))


async def _machines(fly: FlyMachines, bot_id: str) -> list[Any] | None:
    return await fly.list(metadata={"bot_id": bot_id}) or None


def _settings_env(settings: ApiSettings) -> dict[str, str]:
    """The settings as the environment variables that set them (scalars only; the rest keep their defaults)."""
    env = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        choices = getattr(field.validation_alias, "choices", None)
        if choices and isinstance(value, str | int | float | Path) and not isinstance(value, bool):
            env[str(choices[0])] = str(value)
    return env


@pytest.fixture
def control_plane(built_images: None, api_settings: ApiSettings) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The control-plane image's ENTRYPOINT with `api` on a free loopback port, against the test's bus and Postgres.

    As root in the container: the test's key and credential files and Postgres socket folder are private to the
    host user running the tests (production mounts its secrets readable by the image's user, compose.yaml)."""
    port = free_port()
    env = {**_settings_env(api_settings), "HMMTRADE_ENV": "test"}
    mount = f"{HOST_TMP}:{HOST_TMP}"
    command = ["api", "--host", "127.0.0.1", "--port", str(port)]
    argv = [sys.executable, IMAGE_RUN, "--volume", mount, "--user", "0:0", CONTROL_PLANE_IMAGE, *command]
    process = subprocess.Popen(argv, env=_host_basics(os.environ) | env)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _remove_containers_of(CONTROL_PLANE_IMAGE)


def _host_basics(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in ("PATH", "HOME", "LANG") if name in environ}


async def test_the_control_plane_image_serves_readyz(control_plane: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = control_plane

    async def ready() -> bool:
        assert process.poll() is None, f"the image's API exited with {process.returncode} (its output is above)"
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            return False

    await wait_for(ready, timeout_s=120, what="the image's API to answer 200 on /readyz")
