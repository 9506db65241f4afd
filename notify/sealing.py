"""A channel's configuration sealed for Postgres and opened for one delivery.

The same envelope encryption as broker secrets (``vault.envelope``): AES-GCM under a
KMS-wrapped data key, the associated data binding it to (user id, channel id), so a row
copied onto another channel or user fails to open. Only the API (on create) and the
notifier (to send) hold a KMS client.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from notify.port import Channel, EmailChannel, TelegramChannel, WebhookChannel
from store.connections import SealedColumns
from store.notifications import ChannelRow
from vault import envelope
from vault.errors import InvalidEnvelope
from vault.kms import KmsPort


async def seal_channel(
    kms: KmsPort, key_name: str, config: dict[str, Any], *, user_id: uuid.UUID, channel_id: uuid.UUID
) -> SealedColumns:
    """Raises ``KmsUnavailable`` / ``KmsRejected`` like any seal."""
    plaintext = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    sealed = await envelope.seal(kms, key_name, plaintext, user_id=user_id, connection_id=channel_id)
    return SealedColumns.of(sealed)


async def open_channel(kms: KmsPort, row: ChannelRow) -> Channel:
    """The channel ready to send to; ``InvalidEnvelope`` if it can't be opened, ``KmsUnavailable``
    if the KMS can't be reached (retry later)."""
    plaintext = await envelope.open_sealed(kms, row.sealed.envelope(), user_id=row.user_id, connection_id=row.id)
    try:
        config = json.loads(plaintext)
        if row.kind == "webhook":
            return WebhookChannel(row.id, url=config["url"], signing_secret=config["signing_secret"])
        if row.kind == "telegram":
            return TelegramChannel(row.id, chat_id=config["chat_id"], bot_token=config["bot_token"])
        if row.kind == "email":
            return EmailChannel(row.id, to=config["to"])
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidEnvelope
