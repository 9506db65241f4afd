"""The envelope every bus message carries.

``id`` doubles as the JetStream ``Nats-Msg-Id``: publishing the same message twice
within the stream's duplicate window stores it once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, field_validator

from contracts.base import Contract

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


MessageId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class Envelope(Contract):
    """Fields shared by every message on the bus."""

    id: MessageId = Field(default_factory=new_id, description="Unique message id; also the Nats-Msg-Id.")
    type: str = Field(description="Message type, e.g. `bot.create`.")
    occurred_at: datetime = Field(default_factory=utc_now, description="When it happened (UTC).")
    correlation_id: MessageId = Field(
        default_factory=new_id, description="Ties together everything caused by one request."
    )
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, description="Version of this message's schema.")

    @field_validator("occurred_at")
    @classmethod
    def _must_be_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a timezone (UTC)")
        return value.astimezone(UTC)
