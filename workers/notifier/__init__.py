"""The hosted notifier: intake consumers feed a Postgres delivery ledger, a loop delivers it.

Two durable consumers (``notify-audit`` on ``bots.*.audit``, ``notify-events`` on
``events.bot.>``) turn what hosted bots report into ledger rows (``intake``), acked once
the rows are committed. A :class:`notify.delivery.DeliveryLoop` sends the rows, with
per-row backoff recorded in Postgres rather than JetStream redeliveries: a channel that is
down for hours keeps its schedule without holding bus messages or anyone else's rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import structlog
from nats.aio.msg import Msg

from events.bus import Bus
from events.consume import settle
from events.failpoints import Failpoints
from events.pull import BatchPuller
from events.topology import NOTIFY_AUDIT, NOTIFY_EVENTS, ConsumerSpec
from notify.delivery import DeliveryLoop
from notify.dispatch import Dispatcher
from notify.email import EmailTarget, SmtpSettings
from notify.telegram import TelegramTarget
from notify.webhook import WebhookTarget
from vault.errors import KmsUnavailable
from vault.gcp import GoogleKms
from vault.kms import KmsPort
from workers.notifier.intake import IntakeDeps, handle_audit, handle_bot_event
from workers.notifier.ledger import PostgresLedger, SealedChannels
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 10.0


@dataclass
class NotifierRuntime:
    audit: BatchPuller
    events: BatchPuller
    loop: DeliveryLoop
    client: httpx.AsyncClient

    async def stop(self) -> None:
        await self.audit.stop()
        await self.events.stop()
        await self.loop.stop()
        await self.client.aclose()


def _kms(settings: WorkerSettings) -> KmsPort | None:
    """The KMS like the API's: Google's when unset in production; outside production an unset
    endpoint is no KMS (never Google's credentials by accident), so notifications wait."""
    if settings.kms_endpoint is None and settings.environment != "production":
        log.warning("notify.no_kms", why="KMS_ENDPOINT is not set: notifications wait until it is")
        return None
    token = settings.kms_emulator_token
    try:
        return GoogleKms.from_endpoint(
            settings.kms_endpoint,
            emulator_token=token.get_secret_value() if token else None,
            timeout_s=settings.kms_timeout_s,
        )
    except KmsUnavailable as exc:
        log.error("notify.no_kms", why=str(exc))
        return None


def smtp_settings(settings: WorkerSettings) -> SmtpSettings | None:
    """The operator's SMTP relay, or None when email is not set up."""
    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
    )


def start_notifier(
    settings: WorkerSettings, *, pool: asyncpg.Pool, bus: Bus, failpoints: Failpoints, kms: KmsPort | None = None
) -> NotifierRuntime:
    client = httpx.AsyncClient(timeout=SEND_TIMEOUT_S, follow_redirects=False)
    smtp = smtp_settings(settings)
    dispatcher = Dispatcher(
        WebhookTarget(client),
        TelegramTarget(client, api_base=settings.telegram_api),
        EmailTarget(smtp) if smtp is not None else None,
    )
    loop = DeliveryLoop(
        PostgresLedger(pool, settings.notify_lease_s),
        SealedChannels(pool, kms if kms is not None else _kms(settings)),
        dispatcher,
        retry_delays_s=settings.notify_retry_delays_s,
        failpoint=failpoints.hit,
    )
    deps = IntakeDeps(pool=pool, on_queued=loop.wake)

    def puller(consumer: ConsumerSpec, handle: Callable[[Msg, IntakeDeps], Awaitable[None]]) -> BatchPuller:
        async def one(msg: Msg) -> None:
            structlog.contextvars.clear_contextvars()
            await handle(msg, deps)
            await failpoints.hit("notify.before_ack")  # rows committed, message not yet acked

        async def batch(messages: list[Msg]) -> None:
            for msg in messages:
                await settle(msg, one, bus=bus, consumer=consumer)

        return BatchPuller(bus, consumer, batch)

    runtime = NotifierRuntime(
        audit=puller(NOTIFY_AUDIT, handle_audit),
        events=puller(NOTIFY_EVENTS, handle_bot_event),
        loop=loop,
        client=client,
    )
    runtime.audit.start()
    runtime.events.start()
    loop.start()
    return runtime
