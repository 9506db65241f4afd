"""The AsyncAPI 3.0 document of the bus, generated from the topology and the contracts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from contracts import events, incidents, intents
from events import topology

# (channel address, stream, message models, who publishes -> who consumes)
CHANNELS: tuple[tuple[str, str, tuple[type[BaseModel], ...], str], ...] = (
    ("intents.bot.create", "INTENTS", (intents.CreateBot,), "api -> lifecycle worker"),
    ("intents.bot.start", "INTENTS", (intents.StartBot,), "api -> lifecycle worker"),
    ("intents.bot.stop", "INTENTS", (intents.StopBot,), "api, billing worker -> lifecycle worker"),
    ("intents.bot.delete", "INTENTS", (intents.DeleteBot,), "api -> lifecycle worker"),
    ("intents.bot.rearm", "INTENTS", (intents.RearmBot,), "api -> lifecycle worker (puts the bot's RearmRequest)"),
    ("intents.broker.connect", "INTENTS", (intents.ConnectBroker,), "api -> broker worker"),
    ("intents.broker.revoke", "INTENTS", (intents.RevokeBroker,), "api -> broker worker"),
    ("intents.billing.activated", "INTENTS", (intents.BillingActivated,), "billing bridge -> billing worker"),
    ("intents.billing.canceled", "INTENTS", (intents.BillingCanceled,), "billing bridge, sweeper -> billing worker"),
    ("intents.billing.past_due", "INTENTS", (intents.BillingPastDue,), "billing bridge -> billing worker"),
    ("stripe.events.{type}", "STRIPE", (events.StripeEventReceived,), "api webhook -> billing worker"),
    ("bots.{bot_id}.audit", "BOTS", (events.AuditRecord,), "bots -> audit-ingest worker, dashboards"),
    ("bots.{bot_id}.tick", "BOTS", (events.Tick,), "bots -> dashboards"),
    ("bots.{bot_id}.status", "BOTS", (events.BotHeartbeat,), "bots -> supervisor, dashboards"),
    ("bots.{bot_id}.log", "BOTS", (events.BotLogLine,), "bots -> dashboards"),
    ("events.bot.{bot_id}.{what}", "EVENTS", (events.BotEvent,), "workers -> api, dashboards"),
    ("events.intent.{intent_id}.done", "EVENTS", (events.IntentDone,), "workers -> api, dashboards"),
    ("events.intent.{intent_id}.failed", "EVENTS", (events.IntentFailed,), "workers -> api, dashboards"),
    (
        "events.incident.{incident_id}.{what}",
        "EVENTS",
        (incidents.IncidentEvent,),
        "incident watch, operators -> credits worker, dashboards",
    ),
    ("dlq.{original_subject}", "DLQ", (events.DeadLetter,), "any consumer -> operators"),
)


def render_asyncapi() -> str:
    streams = {s.name: s for s in topology.STREAMS}
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for address, stream, models, flow in CHANNELS:
        if stream not in streams:
            raise ValueError(f"channel {address} names unknown stream {stream}")
        key = address.replace(".", "_").replace("{", "").replace("}", "")
        channel_messages = {}
        for model in models:
            messages[model.__name__] = {
                "name": model.__name__,
                "contentType": "application/json",
                "payload": {"$ref": f"./{model.__name__}.json"},
            }
            channel_messages[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        params = {p.split("}")[0]: {"description": p.split("}")[0]} for p in address.split("{")[1:]}
        channels[key] = {
            "address": address,
            "description": f"Stream {stream}: {flow}.",
            "messages": channel_messages,
            **({"parameters": params} if params else {}),
        }
    doc = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "HMM Trade bus",
            "version": "1.0.0",
            "description": "NATS JetStream subjects. Every message carries the envelope "
            "(id = Nats-Msg-Id, type, occurred_at, correlation_id, schema_version) except dead letters.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats"}},
        "channels": channels,
        "components": {"messages": messages},
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
