"""Generate ``contracts/schemas/*.json`` from the models.

The checked-in files are what other languages and the AsyncAPI document rely on;
a test regenerates them in memory and fails on any drift.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from contracts import api, billing, brokers, events, incidents, intents, notify, profile
from contracts.envelope import Envelope

SCHEMA_DIR = Path(__file__).parent / "schemas"

MODELS: tuple[type[BaseModel], ...] = (
    Envelope,
    profile.BotProfile,
    intents.CreateBot,
    intents.StartBot,
    intents.StopBot,
    intents.DeleteBot,
    intents.RearmBot,
    intents.RearmRequest,
    intents.ConnectBroker,
    intents.RevokeBroker,
    intents.BillingActivated,
    intents.BillingCanceled,
    intents.BillingPastDue,
    events.BotEvent,
    events.IntentDone,
    events.IntentFailed,
    events.AuditRecord,
    events.Tick,
    events.BotHeartbeat,
    events.BotLogLine,
    events.StripeEventReceived,
    events.DeadLetter,
    api.SignupRequest,
    api.LoginRequest,
    api.SignupResponse,
    api.TokenPair,
    api.RefreshRequest,
    api.UserPublic,
    api.BotAccepted,
    api.IntentAccepted,
    api.BotPublic,
    api.BotList,
    api.IntentPublic,
    api.AuditPage,
    api.StepValidation,
    api.Health,
    api.Problem,
    billing.CheckoutRequest,
    billing.CheckoutSessionPublic,
    billing.PortalSessionPublic,
    billing.BillingPublic,
    billing.WebhookReceived,
    brokers.PaperConnectionCreate,
    brokers.AlpacaConnectionCreate,
    brokers.ExchangeConnectionCreate,
    brokers.BrokerConnectionAccepted,
    brokers.BrokerConnectionPublic,
    brokers.BrokerConnectionList,
    brokers.InternalBot,
    brokers.BrokerTokenRequest,
    brokers.BrokerToken,
    brokers.BusCredentialsRequest,
    brokers.BusCredentials,
    brokers.MachineTokenRequest,
    brokers.MachineToken,
    notify.Notification,
    notify.WebhookChannelCreate,
    notify.EmailChannelCreate,
    notify.TelegramChannelCreate,
    notify.NotificationChannelPublic,
    notify.NotificationChannelCreated,
    notify.NotificationChannelList,
    incidents.IncidentEvent,
    incidents.IncidentHistory,
    incidents.ServiceCreditList,
)


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, for every model."""
    return {
        f"{model.__name__}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for model in MODELS
    }


def write_files(files: dict[str, str], folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def write_schemas() -> list[Path]:
    from events.asyncapi import render_asyncapi  # the bus's channels are declared in events/

    return write_files({**render_schemas(), "asyncapi.json": render_asyncapi()})
