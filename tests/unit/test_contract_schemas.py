"""The checked-in JSON Schemas and AsyncAPI document match the models."""

from __future__ import annotations

import json

from contracts.generate import SCHEMA_DIR, render_schemas
from events.asyncapi import render_asyncapi
from events.topology import STREAMS


def test_checked_in_schemas_match_the_models() -> None:
    expected = {**render_schemas(), "asyncapi.json": render_asyncapi()}
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"contracts/schemas is out of date (changed: {stale}, no longer generated: {extra}); "
        "run `.venv/bin/hmmtrade schemas` and commit the result"
    )


def test_asyncapi_covers_every_stream_and_every_intent() -> None:
    doc = json.loads(render_asyncapi())
    addresses = [c["address"] for c in doc["channels"].values()]
    for stream in STREAMS:
        assert any(f"Stream {stream.name}:" in c["description"] for c in doc["channels"].values()), stream.name
    for intent in (
        "bot.create",
        "bot.start",
        "bot.stop",
        "bot.delete",
        "broker.connect",
        "broker.revoke",
        "billing.activated",
        "billing.canceled",
        "billing.past_due",
    ):
        assert f"intents.{intent}" in addresses
    for message in doc["components"]["messages"].values():
        assert (SCHEMA_DIR / message["payload"]["$ref"].removeprefix("./")).exists()


def test_every_envelope_schema_forbids_unknown_fields() -> None:
    for name, text in render_schemas().items():
        schema = json.loads(text)
        if "properties" in schema and name not in ("Envelope.json",):
            assert schema.get("additionalProperties") is False, name
