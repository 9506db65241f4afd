"""Serving a registry at ``/metrics``: the bearer-token rule and a small listener for processes without HTTP.

The rule, the same on every process: the scraper sends ``Authorization: Bearer <token>`` with
the operator's ``HMMTRADE_METRICS_TOKEN``. A missing or wrong token gets 401. When no token is
configured the endpoint does not exist (404): metrics are off rather than open, because they
name routes, consumers and bot ids an outsider has no business counting.

The listener (workers, bots) is plain asyncio: one GET per connection, nothing else served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger(__name__)

TOKEN_ENV = "HMMTRADE_METRICS_TOKEN"
METRICS_PATH = "/metrics"
_MAX_HEAD_BYTES = 16 * 1024
_READ_TIMEOUT_S = 5.0
_REFRESH_TIMEOUT_S = 3.0


def scrape_status(authorization: str | None, token: str | None) -> int:
    """200 if the caller may read metrics, 401 if not, 404 when metrics are off (no token configured)."""
    if not token:
        return 404
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return 401
    return 200


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``registry`` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsListener:
    """``GET /metrics`` on ``host:port`` for one registry (``port=0`` picks a free port: see :attr:`port`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        token: str | None,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``refresh`` runs before each authorized scrape (sampled gauges); a slow or failed one is skipped."""
        self._registry = registry
        self._refresh = refresh
        self._host = host
        self._port = port
        self._token = token
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the metrics listener is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("metrics.listening", host=self._host, port=self.port, enabled=bool(self._token))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            status, body, content_type = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
        extra = 'WWW-Authenticate: Bearer realm="metrics"\r\n' if status == 401 else ""
        writer.write(
            f"HTTP/1.1 {status} {reason[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, head: bytes) -> tuple[int, bytes, str]:
        if len(head) > _MAX_HEAD_BYTES:
            return 400, b"request head too large\n", "text/plain; charset=utf-8"
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return 400, b"bad request line\n", "text/plain; charset=utf-8"
        method, target, _version = parts
        if target.split("?", 1)[0] != METRICS_PATH:
            return 404, b"not found\n", "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            return 405, b"GET only\n", "text/plain; charset=utf-8"
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = scrape_status(headers.get("authorization"), self._token)
        if status != 200:
            text = "metrics are off: no HMMTRADE_METRICS_TOKEN is set\n" if status == 404 else "bearer token required\n"
            return status, text.encode(), "text/plain; charset=utf-8"
        if self._refresh is not None:
            try:
                await asyncio.wait_for(self._refresh(), _REFRESH_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - serve the last samples rather than no metrics
                log.warning("metrics.refresh_failed", error=f"{type(exc).__name__}: {exc}")
        body, content_type = render(self._registry)
        return 200, body if method == "GET" else b"", content_type
