"""The delivery loop's Postgres side: the ledger, and channels opened through the KMS."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from notify.delivery import ChannelGone, Due
from notify.port import Channel
from notify.sealing import open_channel
from store import notifications
from vault.errors import InvalidEnvelope, KmsUnavailable
from vault.kms import KmsPort


@dataclass(frozen=True)
class PostgresLedger:
    pool: asyncpg.Pool
    lease_s: float

    async def claim_due(self, limit: int) -> Sequence[Due]:
        rows = await notifications.claim_due(self.pool, limit=limit, lease_s=self.lease_s)
        return [Due(r.notification, r.channel_id, r.user_id, r.attempts) for r in rows]

    async def mark_sent(self, notification_id: str, channel_id: uuid.UUID) -> None:
        await notifications.mark_sent(self.pool, notification_id, channel_id)

    async def mark_attempt_failed(
        self, notification_id: str, channel_id: uuid.UUID, *, error: str, retry_in_s: float | None
    ) -> None:
        await notifications.mark_attempt_failed(
            self.pool, notification_id, channel_id, error=error, retry_in_s=retry_in_s
        )


@dataclass(frozen=True)
class SealedChannels:
    """Opens a row's channel: read it, unwrap its key with the KMS. Plaintext lives for one send."""

    pool: asyncpg.Pool
    kms: KmsPort | None

    async def __call__(self, due: Due) -> Channel:
        row = await notifications.get_channel(self.pool, due.channel_id)
        if row is None:
            raise ChannelGone("the channel was deleted")
        if self.kms is None:
            raise KmsUnavailable("KMS_ENDPOINT is not set for the workers: channel secrets can't be opened")
        try:
            return await open_channel(self.kms, row)
        except InvalidEnvelope:
            raise ChannelGone("the channel's settings can't be decrypted: create the channel again") from None
