"""The delivery port and the opened channel configurations it delivers to.

A channel configuration here holds its secret in the clear: it exists only in the memory
of the process delivering (opened from the vault per delivery batch, or read from the
agent's own config), and its ``repr`` hides the secret.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from contracts.notify import Notification


@dataclass(frozen=True)
class WebhookChannel:
    id: uuid.UUID
    url: str
    signing_secret: str = field(repr=False)


@dataclass(frozen=True)
class EmailChannel:
    id: uuid.UUID
    to: str


@dataclass(frozen=True)
class TelegramChannel:
    id: uuid.UUID
    chat_id: str
    bot_token: str = field(repr=False)


Channel = WebhookChannel | EmailChannel | TelegramChannel


class Notifier(Protocol):
    """Delivers one notification to one channel, or raises a ``notify.DeliveryError``."""

    async def send(self, notification: Notification, channel: Channel) -> None: ...
