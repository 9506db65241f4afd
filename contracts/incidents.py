"""Incidents and service credits: the bus event, and the public HTTP bodies.

An incident is published on every change as ``events.incident.<id>.<opened|updated|closed>``
(an :class:`IncidentEvent` carrying the whole incident as it now stands), so a consumer never
has to read the database to know what changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.api import ServiceStatus, StatusComponent
from contracts.base import Contract
from contracts.envelope import Envelope

IncidentState = Literal["investigating", "identified", "monitoring", "resolved"]
CreditStatus = Literal["pending", "issued", "none_due", "no_customer"]


class IncidentUpdatePublic(Contract):
    at: datetime
    state: IncidentState
    message: str = Field(max_length=2_000)


class IncidentPublic(Contract):
    """An incident as the status page shows it (no operator names, no customers)."""

    id: uuid.UUID
    component: StatusComponent
    title: str = Field(max_length=200)
    impact: ServiceStatus = Field(description="`down` or `degraded` while it lasted.")
    started_at: datetime
    ended_at: datetime | None = Field(description="None while the incident is open.")
    updates: list[IncidentUpdatePublic] = Field(description="Oldest first.")


class IncidentEvent(Envelope):
    """An incident was opened, updated or closed (``events.incident.<id>.<what>``)."""

    type: Literal["incident.opened", "incident.updated", "incident.closed"]
    incident: IncidentPublic


class IncidentHistory(Contract):
    """``GET /api/v1/incidents``: open incidents first, then the closed ones, newest first."""

    incidents: list[IncidentPublic]


class CreditedBot(Contract):
    bot_id: uuid.UUID
    name: str
    down_hours: float = Field(description="Hours the bot could not run during the incident.")
    credited_hours: float = Field(description="Of those, the hours past the grace period: what is credited.")


class ServiceCreditPublic(Contract):
    """A service credit on your account (``GET /api/v1/billing/credits``)."""

    incident_id: uuid.UUID
    incident_title: str
    incident_started_at: datetime
    incident_ended_at: datetime | None
    plan: Literal["pro", "team"]
    amount_cents: int = Field(ge=0, description="Credited to your Stripe balance: taken off your next invoice.")
    currency: str
    status: CreditStatus
    issued_at: datetime | None
    bots: list[CreditedBot]


class ServiceCreditList(Contract):
    credits: list[ServiceCreditPublic]
