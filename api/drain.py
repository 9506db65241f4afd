"""Whether this API replica is draining (shutting down), and what changes while it is.

The first SIGTERM (``stack.graceful.GracefulServer``) starts the drain: from then on ``/readyz``
answers 503 ``draining`` so a load balancer stops sending new requests here, and every response
carries ``Connection: close`` so clients and balancers open their next connection elsewhere
instead of reusing one this replica is about to close. Requests keep being served meanwhile.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Drain:
    """Set once, never cleared: a replica that drains is on its way out."""

    def __init__(self) -> None:
        self._since: float | None = None

    @property
    def draining(self) -> bool:
        return self._since is not None

    def begin(self) -> None:
        if self._since is None:
            self._since = time.monotonic()


class CloseConnectionsWhileDraining:
    """Adds ``Connection: close`` to every HTTP response sent once the drain has begun, so no
    keep-alive connection is left idle for the server to cut under a client's next request."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
