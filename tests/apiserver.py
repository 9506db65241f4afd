"""The API on a real loopback port (uvicorn inside the test's event loop), for child processes
such as a hosted bot's boot entrypoint that must reach it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from events.embedded import free_port


@contextlib.asynccontextmanager
async def serve_api(settings: ApiSettings) -> AsyncIterator[str]:
    """Run the API until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            # Longer than any pause in a test: with uvicorn's 5 s default, a test's client could reuse
            # a keep-alive connection at the moment the server closed it (httpcore.ReadError).
            timeout_keep_alive=300,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
