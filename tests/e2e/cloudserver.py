"""The hosted stack (:mod:`tests.hostedstack`) on its own event loop in a background thread,
for browser tests whose Playwright calls block the main thread: its own nats-server, the
KMS and Fly Machines emulators, the API on a loopback port and the hosting workers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from api.settings import ApiSettings
from api.tokens import load_or_create_key_file
from events.auth.roles import Role
from events.embedded import NatsServer
from fly.emulator import FlyEmulator
from tests.busauth import BUS_KEY_FILE, BUS_KEYS, creds_file
from tests.hostedstack import FLY_TOKEN, Cloud, hosted_cloud
from vault.emulator import KmsEmulator

T = TypeVar("T")


class CloudThread:
    def __init__(self, root: Path, pg_dsn: str, *, replay_pace: float = 2) -> None:
        self.root = root
        self.pg_dsn = pg_dsn
        self.replay_pace = replay_pace  # hosted bots' bars per second: a pace a page can follow
        self.loop = asyncio.new_event_loop()
        self.cloud: Cloud | None = None
        self._monkeypatch = pytest.MonkeyPatch()
        self._nats: NatsServer | None = None
        self._kms: KmsEmulator | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="cloud", daemon=True)

    @property
    def url(self) -> str:
        assert self.cloud is not None
        return self.cloud.url

    def start(self, timeout_s: float = 60) -> Cloud:
        self._nats = NatsServer(self.root / "nats", keys=BUS_KEYS).start()
        self._kms = KmsEmulator(self.root / "kms" / "keys.json").start()
        self._thread.start()
        if not self._ready.wait(timeout_s) or self.cloud is None:
            raise AssertionError(f"the cloud did not start: {self._error!r}")
        return self.cloud

    def _settings(self) -> ApiSettings:
        assert self._nats is not None and self._kms is not None
        key_file = self.root / "jwt.pem"
        load_or_create_key_file(key_file)
        return ApiSettings(
            KMS_ENDPOINT=self._kms.endpoint,
            KMS_EMULATOR_TOKEN=self._kms.token,
            HMMTRADE_MACHINE_JWT_KEY_DIR=self.root / "machine-keys",
            HMMTRADE_ENV="test",
            NATS_URL=self._nats.url,
            NATS_CREDS=creds_file(Role.API),
            HMMTRADE_BUS_KEY_FILE=BUS_KEY_FILE,
            DATABASE_URL=self.pg_dsn,
            HMMTRADE_JWT_PRIVATE_KEY_FILE=key_file,
            HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE=1000,
            HMMTRADE_SIGNUPS_PER_HOUR=1000,
            HMMTRADE_PUBLISH_TIMEOUT_S=1.0,
        )

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        settings = self._settings()
        async with (
            FlyEmulator(token=FLY_TOKEN, data_dir=self.root / "fly") as emulator,
            hosted_cloud(
                settings, emulator, self.root / "machine-keys", self._monkeypatch, replay_pace=self.replay_pace
            ) as cloud,
        ):
            self.cloud = cloud
            self._ready.set()
            await self._stop.wait()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        """Run a coroutine on the cloud's loop (its HTTP client lives there) and wait for the result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(90)
        self._monkeypatch.undo()
        for server in (self._kms, self._nats):
            if server is not None:
                server.stop()
