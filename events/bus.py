"""Connecting to NATS and publishing envelopes with de-duplication.

Every publish goes through :meth:`Bus.publish`, which sets ``Nats-Msg-Id`` to the
envelope id and waits for JetStream's acknowledgement, so "published" means "stored".
A publish while disconnected fails at once (no client-side buffer that would flush
later), so a caller that reports failure has really written nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.client import RawCredentials
from nats.errors import ConnectionClosedError, NoServersError, OutboundBufferLimitError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError, TooManyStalledMsgsError

from contracts.envelope import Envelope
from events.auth import jwt
from events.auth.tls import client_ssl_context

log = structlog.get_logger(__name__)

MSG_ID = "Nats-Msg-Id"
TYPE_HEADER = "Hmm-Type"
CORRELATION_HEADER = "Hmm-Correlation-Id"


class BusUnavailable(Exception):
    """The bus did not acknowledge a publish; nothing can be assumed stored."""


def envelope_headers(message: Envelope) -> dict[str, str]:
    return {MSG_ID: message.id, TYPE_HEADER: message.type, CORRELATION_HEADER: message.correlation_id}


def connect_options(
    creds: str | Path | RawCredentials | None = None, ca_file: str | Path | None = None
) -> dict[str, Any]:
    """nats-py options for our identity: credentials, their private inbox, TLS trust.

    ``creds`` defaults to ``NATS_CREDS`` and ``ca_file`` to ``NATS_CA`` (the names NATS's
    own tools use). The credentials file is re-read at every reconnect, so a refreshed
    file (a bot's renewed credentials) takes effect without a restart.
    """
    creds = creds or os.environ.get("NATS_CREDS") or None
    ca_file = ca_file or os.environ.get("NATS_CA") or None
    options: dict[str, Any] = {}
    if creds is not None:
        if isinstance(creds, RawCredentials):  # held in memory, never written to disk
            text, options["user_credentials"] = creds.data, creds
        else:
            try:
                text = Path(creds).read_text()
            except OSError as exc:
                raise BusUnavailable(f"cannot read the bus credentials {creds}: {exc.strerror or exc}") from exc
            options["user_credentials"] = str(creds)
        try:
            prefix = inbox_prefix_of(text)
        except ValueError as exc:
            where = "given in memory" if isinstance(creds, RawCredentials) else f"in {creds}"  # never the secret
            raise BusUnavailable(f"the bus credentials {where} are not a NATS .creds file") from exc
        if prefix is not None:
            options["inbox_prefix"] = prefix
    if ca_file is not None:
        options["tls"] = client_ssl_context(ca_file)
    return options


def inbox_prefix_of(creds_text: str) -> str | None:
    """The private reply inbox the credentials were issued with (``_INBOX.<who>``), if any."""
    claims = jwt.claims_of(jwt.jwt_of_creds(creds_text))
    for subject in claims.get("nats", {}).get("sub", {}).get("allow", []):
        if isinstance(subject, str) and subject.startswith("_INBOX.") and subject.endswith(".>"):
            return subject[:-2]
    return None


def server_urls(url: str) -> list[str]:
    """``NATS_URL`` may name every node of a cluster, comma-separated (the NATS CLI's convention);
    the client starts from any that answers and learns the rest from the cluster."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("NATS_URL names no server")
    return urls


async def connect(
    url: str,
    *,
    name: str,
    connect_timeout: float = 2.0,
    creds: str | Path | RawCredentials | None = None,
    ca_file: str | Path | None = None,
) -> NatsClient:
    """Connect with unlimited reconnects and no reconnect buffer (see module docstring)."""
    return await nats.connect(
        server_urls(url),
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        pending_size=0,
        **connect_options(creds, ca_file),
    )


class Bus:
    """A JetStream publisher that tolerates the server being down.

    It (re)connects in the background: the owner calls :meth:`start` once and
    :meth:`close` at the end; :meth:`publish` raises :class:`BusUnavailable` whenever
    the server is not reachable.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        publish_timeout_s: float = 2.0,
        creds: str | Path | None = None,
        ca_file: str | Path | None = None,
    ) -> None:
        self._url = url
        self._name = name
        self._creds = creds
        self._ca_file = ca_file
        self._publish_timeout_s = publish_timeout_s
        self._nc: NatsClient | None = None
        self._connector: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._js: JetStreamContext | None = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def client(self) -> NatsClient:
        if self._nc is None:
            raise BusUnavailable("not connected to NATS yet")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            # One context for the connection: publish_async keeps its reply state in it.
            self._js = self.client.jetstream(timeout=self._publish_timeout_s)
        return self._js

    async def start(self, *, wait_s: float = 0.0) -> None:
        """Begin connecting; wait up to ``wait_s`` for the first connection."""
        self._connector = asyncio.create_task(self._connect_forever(), name=f"bus-connect-{self._name}")
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), wait_s)

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def _connect_forever(self) -> None:
        delay = 0.2
        while self._nc is None:
            try:
                self._nc = await connect(self._url, name=self._name, creds=self._creds, ca_file=self._ca_file)
            except (NoServersError, OSError, NatsTimeoutError, TimeoutError, NatsError, BusUnavailable) as exc:
                log.warning("bus.connect_failed", url=self._url, error=str(exc) or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._connected.set()
        log.info("bus.connected", url=self._url)

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
        if self._nc is not None and not self._nc.is_closed:
            # close, not drain: every publish was already awaited to its ack, and draining
            # a pull subscription with a lingering fetch waits out the 30 s drain timeout.
            await self._nc.close()

    async def publish(self, subject: str, message: Envelope, *, headers: Mapping[str, str] | None = None) -> PubAck:
        """Store ``message`` on ``subject``; a duplicate id within the window is stored once."""
        return await self.publish_raw(
            subject,
            message.model_dump_json().encode(),
            headers={**envelope_headers(message), **(headers or {})},
        )

    async def publish_raw(self, subject: str, payload: bytes, *, headers: Mapping[str, str]) -> PubAck:
        if MSG_ID not in headers:
            raise ValueError("every publish needs a Nats-Msg-Id header")
        if not self.is_connected:
            raise BusUnavailable("the message bus is not reachable")
        try:
            # publish_async shares one reply subscription across publishes (far cheaper than a
            # request each); waiting on the future keeps "returned" meaning "stored".
            ack = await self.js.publish_async(
                subject, payload, headers=dict(headers), wait_stall=self._publish_timeout_s
            )
            return await asyncio.wait_for(ack, self._publish_timeout_s)
        except (
            TooManyStalledMsgsError,
            OutboundBufferLimitError,
            ConnectionClosedError,
            NatsTimeoutError,
            TimeoutError,
            NoStreamResponseError,
        ) as exc:
            raise BusUnavailable(f"the message bus did not acknowledge the publish ({type(exc).__name__})") from exc
        except APIError as exc:
            raise BusUnavailable(f"the message bus refused the publish: {exc.description}") from exc

    async def ping(self, timeout_s: float = 1.0) -> bool:
        if not self.is_connected:
            return False
        try:
            await self.client.flush(timeout=max(1, round(timeout_s)))
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False
        return True
