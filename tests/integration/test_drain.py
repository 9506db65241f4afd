"""The API's drain on SIGTERM: not ready at once, still serving until it stops accepting, and
every request in flight finished before the server exits."""

from __future__ import annotations

import asyncio
import signal

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.drain import CloseConnectionsWhileDraining, Drain
from api.settings import ApiSettings
from events.embedded import free_port
from stack.graceful import GracefulServer
from tests.conftest import wait_for


async def test_readyz_answers_503_draining_and_responses_close_their_connection_once_the_drain_begins(
    api_settings: ApiSettings,
) -> None:
    drain = Drain()
    app = create_app(api_settings, drain=drain)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        ready = await api.get("/readyz")
        assert ready.status_code == 200 and "connection" not in ready.headers
        drain.begin()
        draining = await api.get("/readyz")
        assert draining.status_code == 503
        assert draining.json()["checks"] == {"api": "draining"}
        assert draining.headers["connection"] == "close"
        alive = await api.get("/healthz")
        assert alive.status_code == 200 and alive.headers["connection"] == "close"


def _slow_app(release: asyncio.Event) -> CloseConnectionsWhileDraining:
    """``/slow`` answers once ``release`` is set; anything else answers at once."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    return CloseConnectionsWhileDraining(app, Drain())


async def test_a_sigterm_keeps_serving_through_the_delay_then_finishes_requests_in_flight() -> None:
    release = asyncio.Event()
    app = _slow_app(release)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = GracefulServer(config, app.drain, drain_delay_s=300)  # only a second signal ends this delay
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    async def slow_request_arrived() -> bool:
        return bool(server.server_state.tasks)

    await wait_for(started, timeout_s=10, what="the server to start")
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as in_flight, httpx.AsyncClient(base_url=base) as later:
        slow = asyncio.create_task(in_flight.get("/slow"))
        await wait_for(slow_request_arrived, what="the slow request to arrive")

        server.handle_exit(signal.SIGTERM, None)
        assert app.drain.draining
        during_delay = await later.get("/fast")  # still accepted and served, but not kept alive
        assert during_delay.status_code == 200 and during_delay.headers["connection"] == "close"

        server.handle_exit(signal.SIGTERM, None)  # a second signal: stop accepting now

        async def refused() -> bool:
            try:
                await later.get("/fast")
            except httpx.ConnectError:
                return True
            except (httpx.ReadError, httpx.RemoteProtocolError):
                return False  # opened as the server stopped accepting, and closed unanswered: that is the
                # race the drain delay keeps a balancer out of; look again
            return False

        await wait_for(refused, timeout_s=10, what="the server to stop accepting connections")
        assert not slow.done() and not serving.done()  # still waiting for the request in flight
        release.set()
        finished = await slow
        assert finished.status_code == 200 and finished.text == "/slow"
        await asyncio.wait_for(serving, timeout=30)
