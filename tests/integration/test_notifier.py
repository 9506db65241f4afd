"""The hosted notifier: audit records and bot events on a real bus become deliveries, once each."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from contracts.events import BotEvent
from events.auth.roles import Role
from events.bus import Bus
from events.embedded import NatsServer
from events.topology import bot_event_subject, bot_subject
from notify.signing import ID_HEADER, SIGNATURE_HEADER, new_signing_secret, verify
from store import bots
from store.pool import create_pool
from tests.busauth import BUS_KEY_FILE, creds_file
from tests.conftest import TEST_ACK_WAIT_S, VALID_PROFILE, wait_for
from tests.notifyutil import (
    HttpReceiver,
    SmtpSink,
    audit_record,
    free_port,
    hosted_bot_with_channels,
    http_receiver,
    smtp_sink,
)
from vault.emulator import KmsEmulator
from vault.gcp import GoogleKms
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings

HALT = [{"kind": "halt", "rule": "daily_loss", "reason": "down 3.1% today, limit 3%"}]


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pg_dsn, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def kms(kms_emulator: KmsEmulator) -> GoogleKms:
    return GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    """One HTTP receiver for webhooks and the Telegram API alike."""
    async with http_receiver() as started:
        yield started


@pytest.fixture
def mail() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
async def notifier_workers(
    nats_server: NatsServer, pg_dsn: str, kms_emulator: KmsEmulator, receiver: HttpReceiver, mail: SmtpSink
) -> AsyncIterator[WorkerRuntime]:
    settings = WorkerSettings(
        NATS_URL=nats_server.url,
        NATS_CREDS=creds_file(Role.WORKERS),
        HMMTRADE_BUS_KEY_FILE=BUS_KEY_FILE,
        DATABASE_URL=pg_dsn,
        HMMTRADE_ACK_WAIT_S=TEST_ACK_WAIT_S,
        KMS_ENDPOINT=kms_emulator.endpoint,
        KMS_EMULATOR_TOKEN=kms_emulator.token,
        HMMTRADE_NOTIFY_RETRY_DELAYS_S=[0.2, 0.2, 0.2],
        HMMTRADE_TELEGRAM_API=receiver.url,
        HMMTRADE_SMTP_HOST=mail.host,
        HMMTRADE_SMTP_PORT=mail.port,
        HMMTRADE_SMTP_STARTTLS=False,
    )
    runtime = await start_workers(settings)
    yield runtime
    with contextlib.suppress(Exception):
        await runtime.stop()


async def _row(pool: asyncpg.Pool, channel_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT status, attempts, last_error FROM notification_deliveries WHERE channel_id = $1", channel_id
    )


async def test_a_halt_reaches_the_webhook_once_even_when_its_record_is_published_twice(
    notifier_workers: WorkerRuntime, bus: Bus, pool: asyncpg.Pool, kms: GoogleKms, receiver: HttpReceiver
) -> None:
    _, bot_id, (channel,) = await hosted_bot_with_channels(
        pool, kms, [("webhook", {"url": receiver.url, "signing_secret": new_signing_secret()})], events=["halt"]
    )
    record = audit_record(bot_id, 5, events=HALT)
    await bus.publish(bot_subject(bot_id, "audit"), record)
    await wait_for(lambda: _sent(pool, channel), what="the delivery to be recorded")
    # the same record again, with a fresh message id so JetStream's dedupe does not drop it
    await bus.publish(bot_subject(bot_id, "audit"), record.model_copy(update={"id": f"{bot_id}:5:again"}))
    await wait_for(lambda: _acked(bus, "BOTS", "notify-audit"), what="the repeat to be handled")
    assert [r.headers[ID_HEADER] for r in receiver.received] == [f"{bot_id}:5:halt:0"]


async def test_a_failing_target_is_retried_with_its_errors_recorded(
    notifier_workers: WorkerRuntime, bus: Bus, pool: asyncpg.Pool, kms: GoogleKms, receiver: HttpReceiver
) -> None:
    receiver.statuses = [503, 502]
    _, bot_id, (channel,) = await hosted_bot_with_channels(
        pool, kms, [("webhook", {"url": receiver.url, "signing_secret": new_signing_secret()})], events=["halt"]
    )
    await bus.publish(bot_subject(bot_id, "audit"), audit_record(bot_id, 1, events=HALT))
    await wait_for(lambda: _sent(pool, channel), what="the third attempt to succeed")
    row = await _row(pool, channel)
    assert row is not None and row["attempts"] == 3
    assert "HTTP 502" in row["last_error"]
    assert len(receiver.received) == 3
    assert len({r.headers[ID_HEADER] for r in receiver.received}) == 1


async def test_a_dead_target_is_given_up_and_does_not_hold_back_another(
    notifier_workers: WorkerRuntime, bus: Bus, pool: asyncpg.Pool, kms: GoogleKms, receiver: HttpReceiver
) -> None:
    _, bot_id, (dead, alive) = await hosted_bot_with_channels(
        pool,
        kms,
        [
            ("webhook", {"url": f"http://127.0.0.1:{free_port()}/", "signing_secret": new_signing_secret()}),
            ("telegram", {"chat_id": "42", "bot_token": "123:abc"}),
        ],
        events=["halt", "bot_failed"],
    )
    await bus.publish(bot_subject(bot_id, "audit"), audit_record(bot_id, 1, events=HALT))
    await wait_for(lambda: _sent(pool, alive), what="the live channel's delivery")

    async def given_up() -> asyncpg.Record | None:
        row = await _row(pool, dead)
        return row if row is not None and row["status"] == "failed" else None

    row = await wait_for(given_up, what="the dead channel to be given up")
    assert row["attempts"] == 4  # the first try and one per retry delay
    assert "unreachable" in row["last_error"]
    assert [r.path for r in receiver.received] == ["/bot123:abc/sendMessage"]


async def test_a_failed_bot_notifies_and_a_started_one_does_not(
    notifier_workers: WorkerRuntime, bus: Bus, pool: asyncpg.Pool, kms: GoogleKms, receiver: HttpReceiver
) -> None:
    user_id, bot_id, (channel,) = await hosted_bot_with_channels(
        pool,
        kms,
        [("webhook", {"url": receiver.url, "signing_secret": new_signing_secret()})],
        events=["bot_failed", "bot_stopped"],
    )
    for what, status in (("started", "running"), ("failed", "failed")):
        event = BotEvent(
            id=f"test:{bot_id}:{what}", type=f"bot.{what}", bot_id=bot_id, user_id=user_id,
            status=status, intent_id="test", reason="the machine kept crashing" if what == "failed" else None,
        )  # fmt: skip
        await bus.publish(bot_event_subject(bot_id, what), event)
    await wait_for(lambda: _sent(pool, channel), what="the failure's delivery")
    await wait_for(lambda: _acked(bus, "EVENTS", "notify-events"), what="both events to be handled")
    (got,) = receiver.received
    assert b"the machine kept crashing" in got.body


async def _sent(pool: asyncpg.Pool, channel: uuid.UUID) -> bool:
    row = await _row(pool, channel)
    return row is not None and row["status"] == "sent"


async def _acked(bus: Bus, stream: str, durable: str) -> bool:
    info = await bus.js.consumer_info(stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_channel_made_through_the_api_gets_webhooks_signed_with_the_secret_it_showed(
    notifier_workers: WorkerRuntime,
    api: httpx.AsyncClient,
    auth: dict[str, str],
    bus: Bus,
    pool: asyncpg.Pool,
    receiver: HttpReceiver,
) -> None:
    created = await api.post(
        "/api/v1/notification-channels",
        json={"kind": "webhook", "label": "Ops", "url": f"{receiver.url}/hook"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    channel, secret = created.json()["id"], created.json()["signing_secret"]
    user_id = uuid.UUID((await api.get("/api/v1/me", headers=auth)).json()["id"])
    bot_id = uuid.uuid4()
    profile = {
        **VALID_PROFILE,
        "basics": {**VALID_PROFILE["basics"], "surface": "hosted"},
        "schedule": {"confirmed": True, "notify": {"channels": [channel], "events": ["regime_change"]}},
    }
    await bots.insert_bot(
        pool, bot_id=bot_id, user_id=user_id, name="BTC trend", surface="hosted", mode="paper",
        status="running", profile=profile,
    )  # fmt: skip
    change = [{"kind": "regime_change", "from": 1, "to": 0}]
    await bus.publish(bot_subject(bot_id, "audit"), audit_record(bot_id, 2, events=change))

    async def arrived() -> bool:
        return len(receiver.received) == 1

    await wait_for(arrived, what="the webhook call")
    (got,) = receiver.received
    verify(secret, got.body, got.headers[SIGNATURE_HEADER], now=int(time.time()))
    assert json.loads(got.body)["title"] == "BTC trend: regime 1 -> regime 0"


async def test_the_daily_summary_is_mailed_once_when_the_next_day_starts(
    notifier_workers: WorkerRuntime, bus: Bus, pool: asyncpg.Pool, kms: GoogleKms, mail: SmtpSink
) -> None:
    _, bot_id, (channel,) = await hosted_bot_with_channels(
        pool, kms, [("email", {"to": "trader@example.com"})], events=["daily_summary"]
    )
    day1, day2 = datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 2, 15, tzinfo=UTC)
    records = [
        audit_record(bot_id, 1, at=day1, equity=100_000.0, fills=[{"side": "buy"}]),
        audit_record(bot_id, 2, at=day1.replace(hour=20), equity=100_500.0),
        audit_record(bot_id, 3, at=day2, equity=100_400.0),
    ]
    for record in records:
        await bus.publish(bot_subject(bot_id, "audit"), record)
    await bus.publish(bot_subject(bot_id, "audit"), records[2].model_copy(update={"id": f"{bot_id}:3:again"}))
    await wait_for(lambda: _sent(pool, channel), what="the summary's delivery")
    await wait_for(lambda: _acked(bus, "BOTS", "notify-audit"), what="every record to be handled")
    (summary,) = mail.messages
    assert summary["Subject"] == "SPY swing: 2026-12-01 +$500.00"
    assert "Trades: 1 in 2 decisions" in summary.get_payload()
