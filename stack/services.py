"""Run one service in this process: the API (uvicorn) or the workers."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from workers.app import run_workers
from workers.settings import WorkerSettings


def serve_api(host: str, port: int) -> None:
    settings = ApiSettings()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def serve_workers() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_workers(WorkerSettings(), stop)

    asyncio.run(main())
