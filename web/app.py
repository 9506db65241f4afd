"""Run the web app: the bus fan-out, the health poll, the Panel server, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import httpx

from web.context import WebContext
from web.incidents import IncidentBoard
from web.live import LiveHub
from web.server import make_web_server
from web.sessions import SessionStore
from web.settings import WebSettings
from web.status import StatusWatch


async def run_web(
    settings: WebSettings, *, port: int, address: str = "127.0.0.1", stop: asyncio.Event | None = None
) -> None:
    hub = LiveHub()
    async with httpx.AsyncClient(base_url=settings.api_url, timeout=10.0) as http:
        status = StatusWatch(http, every_s=settings.status_every_s)
        sessions = SessionStore(idle_s=settings.session_idle_s, absolute_s=settings.session_absolute_s)
        board = IncidentBoard(max_age_s=settings.incidents_every_s)
        ctx = WebContext(settings, sessions, hub, http, status, board)
        bus = asyncio.get_running_loop().create_task(
            hub.start(settings.nats_url, creds=settings.nats_creds, ca_file=settings.nats_ca)
        )
        status.start()
        server = make_web_server(ctx, port=port, address=address)
        server.start()
        print(f"HMM Trade web: {settings.origin(address, port)}  (API {settings.api_url})", flush=True)
        try:
            await (stop or _signal_event()).wait()
        finally:
            server.stop()
            bus.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bus
            await status.stop()
            await hub.close()


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event


def main(port: int, address: str) -> int:
    asyncio.run(run_web(WebSettings(), port=port, address=address))
    print("Web stopped.", flush=True)
    return 0
