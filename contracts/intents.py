"""Intents: imperative requests published by the API (and the billing bridge) on ``INTENTS``.

A worker consumes each one and does the side effects; the same intent handled twice
has the effect of one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from contracts.base import Contract
from contracts.envelope import Envelope
from contracts.profile import BotProfile

Plan = Literal["free", "pro", "team"]


class CreateBot(Envelope):
    """Create a bot from a validated profile."""

    type: Literal["bot.create"] = "bot.create"
    user_id: uuid.UUID
    bot_id: uuid.UUID
    profile: BotProfile


class StartBot(Envelope):
    type: Literal["bot.start"] = "bot.start"
    user_id: uuid.UUID
    bot_id: uuid.UUID


class StopBot(Envelope):
    type: Literal["bot.stop"] = "bot.stop"
    user_id: uuid.UUID
    bot_id: uuid.UUID
    reason: str = Field(default="requested by user", max_length=200)


class DeleteBot(Envelope):
    type: Literal["bot.delete"] = "bot.delete"
    user_id: uuid.UUID
    bot_id: uuid.UUID


class RearmBot(Envelope):
    """End a bot's drawdown halt: the worker leaves a ``RearmRequest`` the bot reads before its next bar."""

    type: Literal["bot.rearm"] = "bot.rearm"
    user_id: uuid.UUID
    bot_id: uuid.UUID


class RearmRequest(Envelope):
    """A person asks a halted bot to trade again (KV ``bot_state``, key ``<bot_id>.rearm``, or ``rearm.json``).

    ``id`` names the request: a bot applies each id once, so a request written twice, or still
    there after a restart, re-arms once. ``occurred_at`` is when it was asked.
    """

    type: Literal["bot.rearm_request"] = "bot.rearm_request"
    bot_id: uuid.UUID


class SealedSecret(Contract):
    """An envelope-encrypted broker credential: safe to carry, useless without KMS."""

    ciphertext_b64: str = Field(max_length=65_536)
    wrapped_key_b64: str = Field(max_length=4_096)
    iv_b64: str = Field(max_length=64)
    tag_b64: str = Field(max_length=64)
    kms_key_id: str = Field(max_length=512)
    scheme_version: int = Field(ge=1)


class ConnectBroker(Envelope):
    """Persist a broker connection whose secret the API has already sealed."""

    type: Literal["broker.connect"] = "broker.connect"
    user_id: uuid.UUID
    connection_id: uuid.UUID
    kind: Literal["paper", "alpaca", "exchange"]
    label: str = Field(min_length=1, max_length=64)
    sealed: SealedSecret | None = None
    # Not secret, so stored in the clear beside the envelope: whether the account is a paper
    # (or sandbox) one, and which exchange. Null on intents from before they were recorded.
    paper: bool | None = None
    exchange: str | None = Field(default=None, max_length=32)


class RevokeBroker(Envelope):
    type: Literal["broker.revoke"] = "broker.revoke"
    user_id: uuid.UUID
    connection_id: uuid.UUID


class BillingActivated(Envelope):
    type: Literal["billing.activated"] = "billing.activated"
    user_id: uuid.UUID
    plan: Plan
    subscription_id: str = Field(max_length=255)


class BillingCanceled(Envelope):
    type: Literal["billing.canceled"] = "billing.canceled"
    user_id: uuid.UUID
    subscription_id: str = Field(max_length=255)
    reason: str = Field(default="subscription canceled", max_length=200)


class BillingPastDue(Envelope):
    type: Literal["billing.past_due"] = "billing.past_due"
    user_id: uuid.UUID
    subscription_id: str = Field(max_length=255)


BotIntent = Annotated[CreateBot | StartBot | StopBot | DeleteBot | RearmBot, Field(discriminator="type")]
BrokerIntent = Annotated[ConnectBroker | RevokeBroker, Field(discriminator="type")]
BillingIntent = Annotated[BillingActivated | BillingCanceled | BillingPastDue, Field(discriminator="type")]
