"""Run one service in this process: the API (uvicorn) or the workers."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from workers.app import run_workers
from workers.settings import WorkerSettings


def api_server_config(settings: ApiSettings, host: str, port: int, **overrides: Any) -> uvicorn.Config:
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
        "timeout_graceful_shutdown": 10,
        "server_header": False,
        "proxy_headers": bool(settings.forwarded_allow_ips.strip()),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        **overrides,
    }
    return uvicorn.Config(create_app(settings), **options)


def serve_api(host: str, port: int) -> None:
    uvicorn.Server(api_server_config(ApiSettings(), host, port)).run()


def serve_workers() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_workers(WorkerSettings(), stop)

    asyncio.run(main())
