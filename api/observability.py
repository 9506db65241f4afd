"""Per-request context, the one summary log line per request, and the request metrics.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): the route runs in the same task,
so ``intent_id`` / ``bot_id`` bound by a route appear on the summary line too, and the app's
metrics are active (:mod:`metrics.scope`) for everything the route does.
"""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metrics.api import UNMATCHED_ROUTE
from metrics.scope import ProcessMetrics, activate, deactivate

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _correlation_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 64 and set(text) <= _ALLOWED:
                return text
    return str(uuid.uuid4())


def _route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/bots/{bot_id}``), never the raw path: bounded labels."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: ProcessMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        correlation_id = _correlation_id(scope)
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, correlation_id)
            await send(message)

        active = activate(self.metrics) if self.metrics is not None else None
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if active is not None:
                deactivate(active)
            if self.metrics is not None and self.metrics.api is not None:
                seconds = time.perf_counter() - started
                self.metrics.api.observe_request(_route_template(scope), scope["method"], status, seconds)
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
