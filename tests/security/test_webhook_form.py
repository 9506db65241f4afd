"""A signed Stripe event whose id or type has a trailing newline is refused with a 400 problem.

Python's ``$`` also matches just before a final newline, so ``re.match(r"^…$")`` let
``"evt_…\\n"`` through, into the bus message (500) and the NATS subject.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.settings import ApiSettings
from billing.settings import StripeSettings
from billing.webhooks import signature_header
from events.bus import Bus
from tests.security.clients import client_from, running_app

SECRET = "whsec_test_security_0123456789abcdef"
GOOD: dict[str, Any] = {"id": "evt_form_0001", "object": "event", "type": "invoice.paid", "created": 1_700_000_000}


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("id", "evt_form_0002\n", "event id"),
        ("id", "evt_form\n0003", "event id"),
        ("type", "invoice.paid\n", "event type"),
        ("type", "invoice.paid\r\n", "event type"),
    ],
)
async def test_ids_and_types_with_line_breaks_are_refused(
    api_settings: ApiSettings, bus: Bus, field: str, value: str, named: str
) -> None:
    body = json.dumps({**GOOD, field: value}).encode()
    async with (
        running_app(api_settings, stripe=StripeSettings(STRIPE_WEBHOOK_SECRET=SECRET)) as app,
        client_from(app, "127.0.0.1") as stripe,
    ):
        response = await stripe.post(
            "/api/v1/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": signature_header(SECRET, body), "Content-Type": "application/json"},
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]
    info = await bus.js.stream_info("STRIPE")
    assert info.state.messages == 0, "nothing reached the bus"


async def test_a_well_formed_event_is_accepted(api_settings: ApiSettings, bus: Bus) -> None:
    """The counterpart, so the refusals above are about the newline and nothing else."""
    body = json.dumps(GOOD).encode()
    async with (
        running_app(api_settings, stripe=StripeSettings(STRIPE_WEBHOOK_SECRET=SECRET)) as app,
        client_from(app, "127.0.0.1") as stripe,
    ):
        response = await stripe.post(
            "/api/v1/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": signature_header(SECRET, body), "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert (await bus.js.stream_info("STRIPE")).state.messages == 1
