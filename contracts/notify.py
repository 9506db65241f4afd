"""Notifications: what a bot tells its trader, and the channels it is told on.

A :class:`Notification` has a deterministic ``id`` (bot, what it is about, which record), so
the same bus message read twice, by two worker replicas or after a crash, names the same
notification, and deliveries are kept once per (notification id, channel id).

Channels are a user resource (``/api/v1/notification-channels``); their secrets (a webhook's
signing secret, a Telegram bot token) are sealed by the vault and never appear in a profile,
the bus, a log line or a Postgres column in the clear. A bot profile's step 6 only names
channel ids and the kinds of notification wanted (:class:`NotifySettings`).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from contracts.base import Contract
from contracts.envelope import MessageId

NotificationKind = Literal[
    "regime_change",
    "halt",
    "rearm",
    "order_rejected",
    "bot_stopped",
    "bot_failed",
    "daily_summary",
]
NOTIFICATION_KINDS: tuple[NotificationKind, ...] = (
    "regime_change",
    "halt",
    "rearm",
    "order_rejected",
    "bot_stopped",
    "bot_failed",
    "daily_summary",
)
ChannelKind = Literal["webhook", "email", "telegram"]
MAX_CHANNELS_PER_BOT = 5
_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


class Notification(Contract):
    """One thing worth telling a trader about one bot; the webhook's JSON body."""

    id: MessageId = Field(description="Deterministic: the same event always yields the same id (dedupe on it).")
    kind: NotificationKind
    bot_id: uuid.UUID
    bot_name: str | None = Field(default=None, max_length=64)
    occurred_at: datetime = Field(description="When the event happened (UTC).")
    title: str = Field(max_length=200, description="One line, e.g. `Regime changed: Choppy -> Crisis`.")
    text: str = Field(max_length=2_000, description="A few lines for a person to read.")
    facts: dict[str, Any] = Field(default_factory=dict, description="The event's details, for programs.")


class NotifySettings(Contract):
    """Step 6's notification choice: which of your channels hear about which events (default: none)."""

    channels: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_CHANNELS_PER_BOT,
        description="Ids of your notification channels (see /api/v1/notification-channels).",
    )
    events: list[NotificationKind] = Field(default_factory=list, description="The kinds of notification to send.")

    @field_validator("channels", "events")
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError("list each one once")
        return value


Label = Annotated[str, Field(min_length=1, max_length=64, description="Your name for this channel.")]


class WebhookChannelCreate(Contract):
    """POSTs each notification as JSON, signed with a secret shown once when the channel is made."""

    kind: Literal["webhook"]
    label: Label
    url: AnyHttpUrl = Field(description="Where to POST; https outside a local install.")


class EmailChannelCreate(Contract):
    """Mails each notification through the operator's SMTP server."""

    kind: Literal["email"]
    label: Label
    # a plain pattern, not EmailStr: contracts/profile imports this module, and the bot image
    # ships without email-validator (the mail server is the judge of an address anyway)
    to: str = Field(
        min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="An email address."
    )


class TelegramChannelCreate(Contract):
    """Sends each notification through a Telegram bot you created with @BotFather."""

    kind: Literal["telegram"]
    label: Label
    chat_id: str = Field(min_length=1, max_length=64, pattern=r"^-?[0-9]+$|^@[A-Za-z0-9_]{5,32}$")
    bot_token: SecretStr = Field(min_length=5, max_length=128, description="The token @BotFather gave you.")

    @field_validator("bot_token")
    @classmethod
    def _looks_like_a_token(cls, value: SecretStr) -> SecretStr:
        if not _BOT_TOKEN.fullmatch(value.get_secret_value()):  # the message never shows the value
            raise ValueError("must look like 123456789:AAE... (copy the whole token @BotFather gave you)")
        return value


NotificationChannelCreate = Annotated[
    WebhookChannelCreate | EmailChannelCreate | TelegramChannelCreate, Field(discriminator="kind")
]


class NotificationChannelPublic(Contract):
    """A channel as listed: never its secret, and a webhook shows only its host."""

    id: uuid.UUID
    kind: ChannelKind
    label: str
    target: str = Field(description="Where it goes, without secrets: a host, an address or a chat id.")
    created_at: datetime


class NotificationChannelCreated(NotificationChannelPublic):
    """The answer to a create; a webhook's signing secret is in it, and nowhere else ever again."""

    signing_secret: str | None = Field(
        default=None,
        description="Webhook only: verify `X-HMMTrade-Signature` with it. Shown once: store it now.",
    )


class NotificationChannelList(Contract):
    channels: list[NotificationChannelPublic]
