"""The whole cloud for the web app's browser tests, on one background event loop: nats-server, the
KMS, Fly Machines and Stripe emulators, the API on a loopback port, the workers (hosted bots
boot on the Fly emulator as real processes), and the web app on its own port.

The web app reaches the API through :class:`Cut`, a loopback TCP relay a test can sever and
restore, to see the pages say "not answering" and recover without a reload; the bus is taken
down by stopping the real nats-server and starting it again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import httpx
from pydantic import SecretStr

from api.settings import ApiSettings
from billing.emulator import StripeEmulator
from events.auth.roles import Role
from events.embedded import free_port
from fly.emulator import FlyEmulator
from tests.busauth import creds_file
from tests.e2e.cloudserver import CloudThread
from tests.hostedstack import FLY_TOKEN, Cloud, hosted_cloud
from web.context import WebContext
from web.live import LiveHub
from web.server import make_web_server
from web.sessions import SessionStore
from web.settings import WebSettings
from web.status import StatusWatch

WEBHOOK_SECRET = "whsec_web_e2e_0123456789abcdef0123456789abcdef"


class Cut:
    """A TCP relay from a loopback port to ``target``; ``sever()`` drops every connection and refuses
    new ones (as a crashed API would), ``restore()`` lets them through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.severed = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()

    def sever(self) -> None:
        self.severed = True
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    def restore(self) -> None:
        self.severed = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.severed:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()
            self._open.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


class WebCloud(CloudThread):
    """:class:`CloudThread` plus the Stripe emulator and the web app (``web_url``)."""

    def __init__(self, root: Path, pg_dsn: str, *, replay_pace: float = 2) -> None:
        super().__init__(root, pg_dsn, replay_pace=replay_pace)
        # The web port is named long before the web app listens on it (Checkout's return URL needs it
        # first), and outgoing connections made meanwhile take ephemeral ports from the same range: one
        # once took this port ("Address already in use"). A listening socket holds it until the web app
        # binds, in the same synchronous step.
        self._web_port_hold = socket.socket()
        self._web_port_hold.bind(("127.0.0.1", 0))
        self._web_port_hold.listen()
        self.web_port = int(self._web_port_hold.getsockname()[1])
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.stripe = StripeEmulator(webhook_secret=WEBHOOK_SECRET)
        self.web: WebContext | None = None
        self.api_cut: Cut | None = None

    def start(self, timeout_s: float = 90) -> object:
        self.stripe.start()
        self._monkeypatch.setenv("STRIPE_API_BASE", self.stripe.url)
        self._monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        self._monkeypatch.setenv("HMMTRADE_PUBLIC_URL", self.web_url)  # Checkout and the portal come back here
        return super().start(timeout_s)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        async with FlyEmulator(token=FLY_TOKEN, data_dir=self.root / "fly") as emulator:
            settings = self._settings().model_copy(  # the API's status page checks Fly too
                update={
                    "fly_api_token": SecretStr(FLY_TOKEN),
                    "fly_api_hostname": emulator.url,
                    "fly_app_name": emulator.app_name,
                }
            )
            async with hosted_cloud(
                settings, emulator, self.root / "machine-keys", self._monkeypatch, replay_pace=self.replay_pace
            ) as cloud:
                await self._serve_web(settings, cloud)

    async def _serve_web(self, settings: ApiSettings, cloud: Cloud) -> None:
        """The web app in front of ``cloud`` (through the severable relay) until the test module ends."""
        self.stripe.sender.url = f"{cloud.url}/api/v1/stripe/webhook"
        cut = Cut(int(cloud.url.rsplit(":", 1)[1]))
        await cut.start()
        self.api_cut = cut
        web_settings = WebSettings(
            HMMTRADE_API_URL=f"http://127.0.0.1:{cut.port}",
            HMMTRADE_PUBLIC_URL=self.web_url,
            NATS_URL=settings.nats_url,
            HMMTRADE_WEB_NATS_CREDS=creds_file(Role.DASHBOARD),
            HMMTRADE_WEB_STATUS_EVERY_S=0.5,
        )
        hub = LiveHub()
        async with httpx.AsyncClient(base_url=web_settings.api_url, timeout=10.0) as http:
            status = StatusWatch(http, every_s=web_settings.status_every_s)
            self.web = WebContext(web_settings, SessionStore(), hub, http, status)
            bus = asyncio.create_task(hub.start(web_settings.nats_url, creds=web_settings.nats_creds))
            status.start()
            self._web_port_hold.close()
            server = make_web_server(self.web, port=self.web_port)
            server.start()
            self.cloud = cloud
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                server.stop()
                bus.cancel()
                await status.stop()
                await hub.close()
                await cut.close()

    def stop_bus(self) -> None:
        assert self._nats is not None
        self._nats.stop()

    def start_bus(self) -> None:
        assert self._nats is not None
        self._nats.start()

    def stop(self) -> None:
        super().stop()
        self.stripe.stop()
