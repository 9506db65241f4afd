"""Events: past-tense facts published by workers and bots.

``events.*`` carry what a worker did; ``bots.*`` carry what a running bot reports;
``stripe.events.*`` carry verified Stripe webhooks; ``dlq.*`` carry dead letters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from contracts.base import Contract
from contracts.envelope import Envelope

BotStatus = Literal["creating", "stopped", "starting", "running", "stopping", "failed", "deleted"]


class BotEvent(Envelope):
    """Something happened to a bot (``events.bot.<bot_id>.<what>``)."""

    type: Literal[
        "bot.created",
        "bot.started",
        "bot.stopped",
        "bot.deleted",
        "bot.failed",
        "bot.provisioned",
        "bot.boot_waiting",  # a hosted bot's machine can't boot yet (e.g. KMS down); it retries by itself
        "bot.booted",  # the machine has its credentials and starts trading
    ]
    bot_id: uuid.UUID
    user_id: uuid.UUID
    status: BotStatus
    intent_id: str
    reason: str | None = Field(default=None, max_length=500)


class IntentDone(Envelope):
    """An intent's side effects are complete (``events.intent.<intent_id>.done``)."""

    type: Literal["intent.done"] = "intent.done"
    intent_id: str
    kind: str


class IntentFailed(Envelope):
    """An intent failed for good (``events.intent.<intent_id>.failed``)."""

    type: Literal["intent.failed"] = "intent.failed"
    intent_id: str
    kind: str
    error: str = Field(max_length=2_000)


class AuditRecord(Envelope):
    """One decision of a bot for one bar (``bots.<bot_id>.audit``, msg id ``<bot_id>:<seq>``).

    ``seq`` increases strictly per bot; the record's content follows the trader's
    pipeline: bar -> features -> probabilities -> regime -> target -> risk -> orders -> fills.
    """

    type: Literal["bot.audit"] = "bot.audit"
    bot_id: uuid.UUID
    seq: int = Field(ge=1)
    bar_at: datetime
    kind: Literal["decision", "refit", "risk", "lifecycle"] = "decision"
    regime: int | None = Field(default=None, ge=0, le=5)
    probabilities: list[float] = Field(default_factory=list, max_length=6)
    equity: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict, description="The rest of the record, as the trader wrote it.")


class Tick(Envelope):
    """A compact per-bar summary for live charts (``bots.<bot_id>.tick``)."""

    type: Literal["bot.tick"] = "bot.tick"
    bot_id: uuid.UUID
    seq: int = Field(ge=1)
    bar_at: datetime
    close: float
    regime: int | None = Field(default=None, ge=0, le=5)
    confidence: float | None = Field(default=None, ge=0, le=1)
    equity: float | None = None


class BotHeartbeat(Envelope):
    """A running bot says it is alive (``bots.<bot_id>.status``)."""

    type: Literal["bot.heartbeat"] = "bot.heartbeat"
    bot_id: uuid.UUID
    status: BotStatus
    last_seq: int = Field(default=0, ge=0)


class BotLogLine(Envelope):
    """One line of a bot's output (``bots.<bot_id>.log``)."""

    type: Literal["bot.log"] = "bot.log"
    bot_id: uuid.UUID
    stream: Literal["stdout", "stderr"] = "stdout"
    line: str = Field(max_length=8_192)


class StripeEventReceived(Envelope):
    """A Stripe webhook whose signature checked out (``stripe.events.<type>``; id = Stripe event id)."""

    type: Literal["stripe.event"] = "stripe.event"
    stripe_type: str = Field(max_length=128)
    payload: dict[str, Any]


class DeadLetter(Contract):
    """A message that could not be processed, with why (``dlq.<original subject>``)."""

    reason: str = Field(max_length=2_000)
    original_subject: str
    original_headers: dict[str, str] = Field(default_factory=dict)
    stream: str | None = None
    stream_seq: int | None = None
    consumer: str | None = None
    deliveries: int | None = None
    payload_b64: str
    failed_at: datetime
