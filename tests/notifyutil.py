"""Real local targets for notification tests: an HTTP receiver (aiohttp) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from contracts.events import AuditRecord


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Records every request; answers with ``statuses`` in turn (then 200), like a flaky target."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def bodies_with_header(self, name: str) -> list[str]:
        return [r.headers.get(name, "") for r in self.received]


@asynccontextmanager
async def http_receiver(statuses: list[int] | None = None) -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver(statuses=list(statuses or []))

    async def record(request: web.Request) -> web.Response:
        receiver.received.append(Received(request.path, dict(request.headers), await request.read()))
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        return web.json_response({"ok": status < 400}, status=status)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "550 no such user": the RCPT answer


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.sink.refuse_with:
            return self.sink.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.sink.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def audit_record(bot_id: uuid.UUID, seq: int, *, at: datetime | None = None, **detail: Any) -> AuditRecord:
    """A bot's audit record as the trader writes it, with ``detail`` merged in."""
    occurred = at or datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    equity = detail.get("equity", 100_000.0)
    return AuditRecord(
        id=f"{bot_id}:{seq}",
        correlation_id=str(bot_id),
        bot_id=bot_id,
        seq=seq,
        bar_at=occurred,
        occurred_at=occurred,
        regime=detail.get("regime", 1),
        probabilities=[0.1, 0.8, 0.1],
        equity=equity,
        detail={"seq": seq, "equity": equity, "fills": [], **detail},
    )


KMS_KEY = "projects/hmmtrade-local/locations/global/keyRings/hmmtrade/cryptoKeys/broker-secrets"


async def hosted_bot_with_channels(
    pool: Any, kms: Any, channels: list[tuple[str, dict[str, Any]]], *, events: list[str]
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """A user, a hosted bot whose profile asks for ``events``, and the given channels (kind, config)
    sealed as the API seals them; returns (user id, bot id, channel ids)."""
    from notify.sealing import seal_channel
    from store import bots, notifications, users
    from tests.conftest import VALID_PROFILE

    user_id, bot_id = uuid.uuid4(), uuid.uuid4()
    await users.create_user(pool, user_id=user_id, email=f"{user_id}@example.com", password_hash="x")
    channel_ids = []
    for kind, config in channels:
        channel_id = uuid.uuid4()
        sealed = await seal_channel(kms, KMS_KEY, config, user_id=user_id, channel_id=channel_id)
        await notifications.insert_channel(
            pool, channel_id=channel_id, user_id=user_id, kind=kind, label=kind, target="t", sealed=sealed
        )
        channel_ids.append(channel_id)
    profile = {
        **VALID_PROFILE,
        "basics": {**VALID_PROFILE["basics"], "surface": "hosted"},
        "schedule": {"confirmed": True, "notify": {"channels": [str(c) for c in channel_ids], "events": events}},
    }
    await bots.insert_bot(
        pool, bot_id=bot_id, user_id=user_id, name="SPY swing", surface="hosted", mode="paper",
        status="running", profile=profile,
    )  # fmt: skip
    return user_id, bot_id, channel_ids
