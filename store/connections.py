"""Broker connections: metadata plus the sealed secret (never plaintext)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from store.types import Executor
from vault.envelope import Sealed


@dataclass(frozen=True)
class SealedColumns:
    ciphertext: bytes
    wrapped_key: bytes
    iv: bytes
    tag: bytes
    kms_key_id: str
    scheme_version: int

    def __repr__(self) -> str:
        return f"SealedColumns(kms_key_id={self.kms_key_id!r})"

    @classmethod
    def of(cls, sealed: Sealed) -> SealedColumns:
        """The columns that store an envelope."""
        return cls(**asdict(sealed))

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> SealedColumns:
        """The envelope columns of a row (connections and notification channels share them)."""
        return cls(
            ciphertext=bytes(record["ciphertext"]),
            wrapped_key=bytes(record["wrapped_key"]),
            iv=bytes(record["iv"]),
            tag=bytes(record["tag"]),
            kms_key_id=record["kms_key_id"],
            scheme_version=int(record["scheme_version"]),
        )

    def envelope(self) -> Sealed:
        """The stored envelope, ready to open or re-wrap."""
        return Sealed(**asdict(self))


@dataclass(frozen=True)
class ConnectionRow:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    label: str
    status: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    sealed: SealedColumns | None
    paper: bool | None = None  # None: connected before it was recorded (unknown)
    exchange: str | None = None

    def __repr__(self) -> str:
        return f"ConnectionRow(id={self.id}, kind={self.kind!r}, status={self.status!r})"


def _row(record: asyncpg.Record | None) -> ConnectionRow | None:
    if record is None:
        return None
    sealed = None
    if record["wrapped_key"] is not None:
        sealed = SealedColumns.from_record(record)
    return ConnectionRow(
        id=record["id"],
        user_id=record["user_id"],
        kind=record["kind"],
        label=record["label"],
        status=record["status"],
        created_at=record["created_at"],
        last_used_at=record["last_used_at"],
        revoked_at=record["revoked_at"],
        sealed=sealed,
        paper=record["paper"],
        exchange=record["exchange"],
    )


async def insert_connection(
    db: Executor,
    *,
    connection_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
    label: str,
    sealed: SealedColumns | None,
    paper: bool | None = None,
    exchange: str | None = None,
) -> bool:
    """Insert; ``False`` if a connection with that id already exists."""
    row = await db.fetchrow(
        "INSERT INTO broker_connections"
        " (id, user_id, kind, label, ciphertext, wrapped_key, iv, tag, kms_key_id, scheme_version, paper, exchange)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING RETURNING id",
        connection_id,
        user_id,
        kind,
        label,
        sealed.ciphertext if sealed else None,
        sealed.wrapped_key if sealed else None,
        sealed.iv if sealed else None,
        sealed.tag if sealed else None,
        sealed.kms_key_id if sealed else None,
        sealed.scheme_version if sealed else None,
        paper,
        exchange,
    )
    return row is not None


async def get_connection(
    db: Executor, connection_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> ConnectionRow | None:
    if user_id is None:
        return _row(await db.fetchrow("SELECT * FROM broker_connections WHERE id = $1", connection_id))
    return _row(
        await db.fetchrow("SELECT * FROM broker_connections WHERE id = $1 AND user_id = $2", connection_id, user_id)
    )


async def list_connections(db: Executor, user_id: uuid.UUID) -> list[ConnectionRow]:
    rows = await db.fetch(
        "SELECT * FROM broker_connections WHERE user_id = $1 AND status = 'active' ORDER BY created_at, id", user_id
    )
    return [c for c in map(_row, rows) if c is not None]


async def kinds_by_id(db: Executor, user_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Every connection of the user (revoked too) by id -> kind, for listing bots."""
    rows = await db.fetch("SELECT id, kind FROM broker_connections WHERE user_id = $1", user_id)
    return {r["id"]: r["kind"] for r in rows}


async def shred(db: Executor, connection_id: uuid.UUID) -> None:
    """Revoke: destroy the wrapped data key (and the rest of the envelope); keep the metadata."""
    await db.execute(
        "UPDATE broker_connections SET status = 'revoked', revoked_at = coalesce(revoked_at, now()),"
        " ciphertext = NULL, wrapped_key = NULL, iv = NULL, tag = NULL WHERE id = $1",
        connection_id,
    )


async def touch(db: Executor, connection_id: uuid.UUID) -> None:
    await db.execute("UPDATE broker_connections SET last_used_at = now() WHERE id = $1", connection_id)


async def sealed_connections(db: Executor) -> list[ConnectionRow]:
    """Every connection that holds a wrapped key (what ``vault rewrap`` walks)."""
    rows = await db.fetch("SELECT * FROM broker_connections WHERE wrapped_key IS NOT NULL ORDER BY created_at, id")
    return [c for c in map(_row, rows) if c is not None]


async def replace_wrapped_key(
    db: Executor, connection_id: uuid.UUID, *, old_wrapped_key: bytes, wrapped_key: bytes, kms_key_id: str
) -> bool:
    """Swap in a re-wrapped data key, unless the row changed meanwhile (revoked, re-wrapped)."""
    row = await db.fetchrow(
        "UPDATE broker_connections SET wrapped_key = $3, kms_key_id = $4"
        " WHERE id = $1 AND wrapped_key = $2 RETURNING id",
        connection_id,
        old_wrapped_key,
        wrapped_key,
        kms_key_id,
    )
    return row is not None
