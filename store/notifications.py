"""Notification channels (sealed), the delivery ledger, and the bots' day tallies.

The ledger's key is (notification id, channel id): queueing the same notification for the
same channel twice keeps one row, and a row marked ``sent`` is never sent again. Rows are
claimed with a lease, so two notifier replicas never send one row at the same time, and a
notifier killed mid-send leaves its rows to be claimed again when the lease runs out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from contracts.notify import Notification
from store.connections import SealedColumns
from store.types import Executor


@dataclass(frozen=True)
class ChannelRow:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    label: str
    target: str
    sealed: SealedColumns
    created_at: datetime

    def __repr__(self) -> str:
        return f"ChannelRow(id={self.id}, kind={self.kind!r})"


def _channel(record: asyncpg.Record) -> ChannelRow:
    return ChannelRow(
        id=record["id"],
        user_id=record["user_id"],
        kind=record["kind"],
        label=record["label"],
        target=record["target"],
        sealed=SealedColumns.from_record(record),
        created_at=record["created_at"],
    )


async def insert_channel(
    db: Executor,
    *,
    channel_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
    label: str,
    target: str,
    sealed: SealedColumns,
) -> ChannelRow:
    record = await db.fetchrow(
        """
        INSERT INTO notification_channels
            (id, user_id, kind, label, target, ciphertext, wrapped_key, iv, tag, kms_key_id, scheme_version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        RETURNING *
        """,
        channel_id,
        user_id,
        kind,
        label,
        target,
        sealed.ciphertext,
        sealed.wrapped_key,
        sealed.iv,
        sealed.tag,
        sealed.kms_key_id,
        sealed.scheme_version,
    )
    return _channel(record)


async def list_channels(db: Executor, user_id: uuid.UUID) -> list[ChannelRow]:
    rows = await db.fetch(
        "SELECT * FROM notification_channels WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        user_id,
    )
    return [_channel(r) for r in rows]


async def channels_of(db: Executor, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[ChannelRow]:
    """The user's live channels among ``ids``: someone else's id or a deleted channel is left out."""
    if not ids:
        return []
    rows = await db.fetch(
        "SELECT * FROM notification_channels WHERE user_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL",
        user_id,
        list(ids),
    )
    return [_channel(r) for r in rows]


async def get_channel(db: Executor, channel_id: uuid.UUID) -> ChannelRow | None:
    record = await db.fetchrow("SELECT * FROM notification_channels WHERE id = $1 AND deleted_at IS NULL", channel_id)
    return _channel(record) if record is not None else None


async def delete_channel(db: Executor, channel_id: uuid.UUID, *, user_id: uuid.UUID) -> bool:
    """Deletes the channel and shreds its secret (the wrapped key and ciphertext are overwritten)."""
    status = await db.execute(
        """
        UPDATE notification_channels
           SET deleted_at = now(), ciphertext = '', wrapped_key = '', iv = '', tag = ''
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
        """,
        channel_id,
        user_id,
    )
    return bool(status.endswith(" 1"))


# ---- the delivery ledger ------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRow:
    notification: Notification
    channel_id: uuid.UUID
    user_id: uuid.UUID
    attempts: int


async def enqueue(
    db: Executor, notification: Notification, *, user_id: uuid.UUID, channel_ids: Sequence[uuid.UUID]
) -> int:
    """Queue ``notification`` for each channel; already-queued pairs are left as they are.

    ``db`` must come from ``store.pool`` (its jsonb codec encodes the payload)."""
    if not channel_ids:
        return 0
    status = await db.execute(
        """
        INSERT INTO notification_deliveries (notification_id, channel_id, bot_id, user_id, kind, payload)
        SELECT $1, channel_id, $2, $3, $4, $5::jsonb FROM unnest($6::uuid[]) AS channel_id
        ON CONFLICT (notification_id, channel_id) DO NOTHING
        """,
        notification.id,
        notification.bot_id,
        user_id,
        notification.kind,
        notification.model_dump(mode="json"),
        list(channel_ids),
    )
    return int(status.rsplit(" ", 1)[-1])


async def claim_due(db: Executor, *, limit: int, lease_s: float) -> list[DeliveryRow]:
    """Pending rows whose time has come and whose lease (if any) ran out, leased to the caller."""
    rows = await db.fetch(
        """
        UPDATE notification_deliveries d
           SET lease_until = now() + make_interval(secs => $2)
          FROM (SELECT notification_id, channel_id FROM notification_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= now()
                   AND (lease_until IS NULL OR lease_until <= now())
                 ORDER BY next_attempt_at
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED) due
         WHERE d.notification_id = due.notification_id AND d.channel_id = due.channel_id
        RETURNING d.payload, d.channel_id, d.user_id, d.attempts
        """,
        limit,
        lease_s,
    )
    return [
        DeliveryRow(
            notification=Notification.model_validate(r["payload"]),
            channel_id=r["channel_id"],
            user_id=r["user_id"],
            attempts=r["attempts"],
        )
        for r in rows
    ]


async def mark_sent(db: Executor, notification_id: str, channel_id: uuid.UUID) -> None:
    await db.execute(
        """
        UPDATE notification_deliveries
           SET status = 'sent', sent_at = now(), attempts = attempts + 1, lease_until = NULL
         WHERE notification_id = $1 AND channel_id = $2 AND status = 'pending'
        """,
        notification_id,
        channel_id,
    )


async def mark_attempt_failed(
    db: Executor, notification_id: str, channel_id: uuid.UUID, *, error: str, retry_in_s: float | None
) -> None:
    """Record a failed attempt: retried after ``retry_in_s``, or failed for good when it is None."""
    await db.execute(
        """
        UPDATE notification_deliveries
           SET attempts = attempts + 1, last_error = $3, lease_until = NULL,
               status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => coalesce($4::float8, 0))
         WHERE notification_id = $1 AND channel_id = $2 AND status = 'pending'
        """,
        notification_id,
        channel_id,
        error[:1_000],
        retry_in_s,
    )


# ---- day tallies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TallyRow:
    bot_id: uuid.UUID
    day: date
    last_seq: int
    open_equity: float | None
    close_equity: float | None
    regime: int | None
    trades: int
    decisions: int


async def lock_tally(db: Executor, bot_id: uuid.UUID) -> TallyRow | None:
    """The bot's open day, locked until the caller's transaction ends."""
    record = await db.fetchrow("SELECT * FROM notification_day_tallies WHERE bot_id = $1 FOR UPDATE", bot_id)
    return TallyRow(**dict(record)) if record is not None else None


async def put_tally(db: Executor, row: TallyRow) -> None:
    await db.execute(
        """
        INSERT INTO notification_day_tallies
            (bot_id, day, last_seq, open_equity, close_equity, regime, trades, decisions)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (bot_id) DO UPDATE SET day = $2, last_seq = $3, open_equity = $4, close_equity = $5,
            regime = $6, trades = $7, decisions = $8
        """,
        row.bot_id,
        row.day,
        row.last_seq,
        row.open_equity,
        row.close_equity,
        row.regime,
        row.trades,
        row.decisions,
    )
