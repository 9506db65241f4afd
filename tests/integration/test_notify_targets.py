"""The three notification adapters against real servers on loopback (aiohttp, aiosmtpd)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from contracts.notify import Notification
from notify._exceptions import TargetRejected, TargetUnavailable
from notify.email import EmailTarget, SmtpSettings, message_id
from notify.port import EmailChannel, TelegramChannel, WebhookChannel
from notify.signing import ID_HEADER, SIGNATURE_HEADER, new_signing_secret, verify
from notify.telegram import TelegramTarget
from notify.webhook import WebhookTarget
from tests.notifyutil import free_port, http_receiver, smtp_sink

BOT = uuid.uuid4()
NOTE = Notification(
    id=f"{BOT}:7:halt:0",
    kind="halt",
    bot_id=BOT,
    bot_name="SPY swing",
    occurred_at=datetime(2026, 12, 1, 21, tzinfo=UTC),
    title="SPY swing: trading halted (drawdown limit)",
    text="Trading halted on the 2026-12-01 bar: drawdown 21% exceeds the 20% limit.",
    facts={"rule": "drawdown"},
)
TOKEN = "123456:ABC-secret_token"


async def test_webhook_posts_the_notification_signed_with_its_id() -> None:
    secret = new_signing_secret()
    async with http_receiver() as receiver, httpx.AsyncClient() as client:
        await WebhookTarget(client, clock=lambda: 1_800_000_000).send(
            NOTE, WebhookChannel(uuid.uuid4(), f"{receiver.url}/hooks/trading", secret)
        )
    (got,) = receiver.received
    assert got.path == "/hooks/trading"
    assert got.headers[ID_HEADER] == NOTE.id
    verify(secret, got.body, got.headers[SIGNATURE_HEADER], now=1_800_000_000)
    assert Notification.model_validate_json(got.body) == NOTE


@pytest.mark.parametrize(
    ("status", "error"), [(503, TargetUnavailable), (429, TargetUnavailable), (404, TargetRejected)]
)
async def test_webhook_failures_say_whether_to_retry(status: int, error: type[Exception]) -> None:
    async with http_receiver(statuses=[status]) as receiver, httpx.AsyncClient() as client:
        with pytest.raises(error, match=f"HTTP {status}"):
            await WebhookTarget(client).send(NOTE, WebhookChannel(uuid.uuid4(), receiver.url, new_signing_secret()))


async def test_an_unreachable_webhook_is_retried_later() -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(TargetUnavailable, match="unreachable"):
            await WebhookTarget(client).send(
                NOTE, WebhookChannel(uuid.uuid4(), f"http://127.0.0.1:{free_port()}/", new_signing_secret())
            )


async def test_telegram_gets_send_message_with_chat_and_text() -> None:
    async with http_receiver() as receiver, httpx.AsyncClient() as client:
        await TelegramTarget(client, api_base=receiver.url).send(NOTE, TelegramChannel(uuid.uuid4(), "-100200", TOKEN))
    (got,) = receiver.received
    assert got.path == f"/bot{TOKEN}/sendMessage"
    body = json.loads(got.body)
    assert body["chat_id"] == "-100200"
    assert body["text"].startswith("SPY swing: trading halted (drawdown limit)\n\nTrading halted")


async def test_a_telegram_error_never_shows_the_token() -> None:
    async with http_receiver(statuses=[401]) as receiver, httpx.AsyncClient() as client:
        with pytest.raises(TargetRejected) as raised:
            await TelegramTarget(client, api_base=receiver.url).send(NOTE, TelegramChannel(uuid.uuid4(), "42", TOKEN))
    assert TOKEN not in str(raised.value)
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(TargetUnavailable) as unreachable:
            await TelegramTarget(client, api_base=f"http://127.0.0.1:{free_port()}").send(
                NOTE, TelegramChannel(uuid.uuid4(), "42", TOKEN)
            )
    assert TOKEN not in str(unreachable.value)


async def test_email_arrives_with_a_message_id_from_the_notification() -> None:
    with smtp_sink() as sink:
        settings = SmtpSettings(host=sink.host, port=sink.port, starttls=False, sender="bots@example.com")
        await EmailTarget(settings).send(NOTE, EmailChannel(uuid.uuid4(), "trader@example.com"))
    (mail,) = sink.messages
    assert mail["To"] == "trader@example.com"
    assert mail["Subject"] == NOTE.title
    assert mail["Message-ID"] == message_id(NOTE.id)
    assert mail[ID_HEADER] == NOTE.id
    assert "drawdown 21%" in mail.get_payload()


async def test_email_refused_address_is_not_retried_and_a_down_server_is() -> None:
    with smtp_sink() as sink:
        sink.refuse_with = "550 5.1.1 no such user"
        settings = SmtpSettings(host=sink.host, port=sink.port, starttls=False)
        with pytest.raises(TargetRejected, match="SMTP 550"):
            await EmailTarget(settings).send(NOTE, EmailChannel(uuid.uuid4(), "nobody@example.com"))
    down = SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False, timeout_s=2)
    with pytest.raises(TargetUnavailable, match="unreachable"):
        await EmailTarget(down).send(NOTE, EmailChannel(uuid.uuid4(), "trader@example.com"))
