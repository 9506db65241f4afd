"""One :class:`~notify.port.Notifier` over the three adapters, choosing by channel kind."""

from __future__ import annotations

from contracts.notify import Notification
from notify._exceptions import TargetRejected
from notify.email import EmailTarget
from notify.port import Channel, EmailChannel, TelegramChannel, WebhookChannel
from notify.telegram import TelegramTarget
from notify.webhook import WebhookTarget


class Dispatcher:
    """Routes a notification to the adapter for its channel; email is optional (no SMTP set up)."""

    def __init__(self, webhook: WebhookTarget, telegram: TelegramTarget, email: EmailTarget | None) -> None:
        self._webhook, self._telegram, self._email = webhook, telegram, email

    async def send(self, notification: Notification, channel: Channel) -> None:
        if isinstance(channel, WebhookChannel):
            await self._webhook.send(notification, channel)
        elif isinstance(channel, TelegramChannel):
            await self._telegram.send(notification, channel)
        elif isinstance(channel, EmailChannel):
            if self._email is None:
                raise TargetRejected("email is not set up on this server (HMMTRADE_SMTP_HOST is unset)")
            await self._email.send(notification, channel)
