"""A tiny load balancer for tests: round robin over the API replicas that are ready.

It behaves like nginx in front of the API, not better: it checks each backend's ``/readyz``
often and sends requests only to backends that answered 200 last time (a check that fails or
times out takes the backend out); it retries a request on another backend only when the
connection could not be opened (refused), as ``proxy_next_upstream error`` does before anything
was sent. Once a request has been written to a backend its outcome is the client's: a reset,
a timeout or a 5xx goes back as a failure (502 for a transport error), never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from events.embedded import free_port

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
}
CHECK_INTERVAL_S = 0.1
CHECK_TIMEOUT_S = 1.0  # a backend that cannot say it is ready within this is treated as not ready
NO_BACKEND_WAIT_S = 30.0  # how long a request waits for some backend to be ready before a 503


@dataclass
class Backend:
    url: str
    ready: bool = False


@dataclass
class LoadBalancer:
    backends: list[Backend]
    forwarded: dict[str, int] = field(default_factory=dict)  # requests answered, by backend URL
    retried_on_refusal: int = 0
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def check_forever(self, http: httpx.AsyncClient) -> None:
        while True:
            await asyncio.gather(*(self._check(http, backend) for backend in self.backends))
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def _check(self, http: httpx.AsyncClient, backend: Backend) -> None:
        try:
            response = await http.get(f"{backend.url}/readyz", timeout=CHECK_TIMEOUT_S)
            backend.ready = response.status_code == 200
        except httpx.HTTPError:
            backend.ready = False

    async def _next_ready(self, tried: set[str]) -> Backend | None:
        deadline = time.monotonic() + NO_BACKEND_WAIT_S
        while time.monotonic() < deadline:
            ready = [b for b in self.backends if b.ready and b.url not in tried]
            if ready:
                return ready[next(self._turn) % len(ready)]
            if tried:
                return None  # every ready backend refused this request already
            await asyncio.sleep(CHECK_INTERVAL_S)
        return None

    async def forward(self, http: httpx.AsyncClient, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        tried: set[str] = set()
        while (backend := await self._next_ready(tried)) is not None:
            try:
                upstream = await http.request(request.method, backend.url + target, content=body, headers=headers)
            except httpx.ConnectError:  # refused before a byte was sent: safe to try the next backend
                tried.add(backend.url)
                backend.ready = False
                self.retried_on_refusal += 1
                continue
            except httpx.HTTPError as exc:
                return Response(f"upstream {backend.url} failed: {exc!r}", status_code=502)
            self.forwarded[backend.url] = self.forwarded.get(backend.url, 0) + 1
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return Response(upstream.content, status_code=upstream.status_code, headers=kept)
        return Response("no backend is ready", status_code=503)


@contextlib.asynccontextmanager
async def load_balancer(backend_urls: list[str]) -> AsyncIterator[tuple[str, LoadBalancer]]:
    """Serve the balancer on a loopback port until the block ends; yields its URL and itself."""
    balancer = LoadBalancer([Backend(url) for url in backend_urls])
    # Idle upstream connections are dropped well before uvicorn's 5 s keep-alive timeout closes
    # them, so the balancer never writes a request into a connection the server is closing.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=1.0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as upstream, httpx.AsyncClient() as checks:

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            response = await balancer.forward(upstream, Request(scope, receive))
            await response(scope, receive, send)

        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_keep_alive=300
            )
        )
        serving = asyncio.create_task(server.serve())
        checking = asyncio.create_task(balancer.check_forever(checks))
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{port}", balancer
        finally:
            checking.cancel()
            server.should_exit = True
            await serving
            with contextlib.suppress(asyncio.CancelledError):
                await checking
