"""Public HTTP bodies of the control plane (the ``Base / Create / Public`` ladder)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import EmailStr, Field

from contracts.base import Contract
from contracts.events import BotStatus
from contracts.intents import Plan
from contracts.profile import BotProfile

IntentStatus = Literal["accepted", "done", "failed"]


class Credentials(Contract):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=10, max_length=256, description="10-256 characters.")


class SignupRequest(Credentials):
    pass


class LoginRequest(Contract):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)


class SignupResponse(Contract):
    user_id: uuid.UUID


class TokenPair(Contract):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(Contract):
    refresh_token: str = Field(min_length=1, max_length=4_096)


class UserPublic(Contract):
    id: uuid.UUID
    email: str
    tier: Plan
    created_at: datetime


class BotAccepted(Contract):
    """``POST /api/v1/bots`` answer: the bot will exist once the intent is done."""

    bot_id: uuid.UUID
    intent_id: str


class IntentAccepted(Contract):
    intent_id: str


class BotRisk(Contract):
    status: str = Field(max_length=32, description="The newest record's risk verdict: ok, adjusted, halted or killed.")
    reason: str | None = Field(default=None, max_length=300, description="The first reason, as the bot wrote it.")
    since: datetime | None = Field(
        default=None, description="Halted or killed: the bar the limit tripped on (when it stopped trading)."
    )


class BotPublic(Contract):
    id: uuid.UUID
    name: str
    status: BotStatus
    surface: Literal["hosted", "local"]
    mode: Literal["paper", "live"] = Field(description="`live` trades real money; shown wherever the bot's status is.")
    connection_kind: Literal["paper", "alpaca", "exchange"] | None = Field(
        default=None, description="The kind of broker connection it trades through; null if that connection is gone."
    )
    profile: BotProfile
    status_reason: str | None = None
    risk: BotRisk | None = Field(default=None, description="From its newest audit record; null before its first.")
    machine_id: str | None = None
    created_at: datetime
    updated_at: datetime


class BotList(Contract):
    bots: list[BotPublic]


class IntentPublic(Contract):
    id: str
    kind: str
    status: IntentStatus
    bot_id: uuid.UUID | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class AuditEntry(Contract):
    seq: int
    bar_at: datetime
    kind: str
    regime: int | None
    probabilities: list[float]
    equity: float | None
    detail: dict[str, Any]
    recorded_at: datetime


class AuditPage(Contract):
    bot_id: uuid.UUID
    records: list[AuditEntry]
    next_after: int | None = Field(description="Pass as `after` for the next page; null when this was the last.")


class StepValidation(Contract):
    step: int = Field(description="The step checked; 0 for a whole profile.")
    valid: Literal[True] = True
    section: str


class IntentBacklogReport(Contract):
    """Bot intents waiting for the lifecycle worker (stored + in a worker's hands) and the API's bound."""

    waiting: int
    limit: int
    accepting: bool


class Health(Contract):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
    intent_backlog: IntentBacklogReport | None = None


class Problem(Contract):
    """RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Per-field errors: `loc`, `msg`, `type`.")


ServiceStatus = Literal["ok", "degraded", "down"]
StatusComponent = Literal["api", "bus", "database", "fly", "kms", "stripe"]


class ComponentStatus(Contract):
    """One part of the service as the API last checked it."""

    component: StatusComponent
    status: ServiceStatus = Field(description="`degraded`: it answered, but slowly or only in part.")
    checked_at: datetime
    detail: str = Field(description="Plain words for people; never a secret or an address.")


class StatusReport(Contract):
    """``GET /api/v1/status``: what the status page and the incident banner show."""

    status: ServiceStatus = Field(
        description=(
            "`down` when the api, bus or database is down (nothing can be changed); `degraded` when any other "
            "component is not `ok` (some actions fail: launches without KMS or Fly, payments without Stripe)."
        )
    )
    checked_at: datetime
    components: list[ComponentStatus]
