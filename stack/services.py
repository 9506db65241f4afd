"""Run one service in this process: the API (uvicorn) or the workers."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn

from api.app import create_app
from api.drain import Drain
from api.settings import ApiSettings
from stack.graceful import GracefulServer
from workers.app import run_workers
from workers.settings import WorkerSettings


def api_server_config(
    settings: ApiSettings, host: str, port: int, *, drain: Drain | None = None, **overrides: Any
) -> uvicorn.Config:
    """How the API is served; tests serve it with this same configuration.

    ``forwarded_allow_ips`` is always passed: left unset, uvicorn would read it from a
    ``FORWARDED_ALLOW_IPS`` variable meant for something else, and a stray ``*`` would let
    every client choose the address its rate limits are counted under.
    """
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": settings.drain_timeout_s,
        "server_header": False,
        "proxy_headers": bool(settings.forwarded_allow_ips.strip()),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        **overrides,
    }
    return uvicorn.Config(create_app(settings, drain=drain), **options)


def serve_api(host: str, port: int) -> None:
    """Serve until SIGTERM, then drain (``stack.graceful``) and exit 0."""
    settings, drain = ApiSettings(), Drain()
    config = api_server_config(settings, host, port, drain=drain)
    GracefulServer(config, drain, drain_delay_s=settings.drain_delay_s).run()


def serve_workers() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_workers(WorkerSettings(), stop)

    asyncio.run(main())
