"""Our webhook signatures agree with stripe-python's, both ways, and refuse what Stripe's would."""

from __future__ import annotations

import json

import pytest
import stripe

from billing.webhooks import InvalidSignature, signature_header, verify

SECRET = "whsec_unit_test_secret"
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}).encode()
NOW = 1_800_000_000


def test_a_header_we_sign_passes_stripe_pythons_own_verification() -> None:
    header = signature_header(SECRET, BODY)
    assert stripe.WebhookSignature.verify_header(BODY.decode(), header, SECRET, tolerance=300)


def test_a_header_stripe_python_generates_passes_ours() -> None:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=NOW)
    assert verify(BODY, header, SECRET, now=NOW)["id"] == "evt_1"


def test_any_matching_v1_passes_while_a_secret_is_rolled() -> None:
    good = signature_header(SECRET, BODY, timestamp=NOW).split("v1=")[1]
    header = f"t={NOW},v1={'0' * 64},v1={good}"
    assert verify(BODY, header, SECRET, now=NOW)["type"] == "invoice.paid"


@pytest.mark.parametrize(
    ("header", "now", "message"),
    [
        (None, NOW, "missing"),
        ("t=abc,v1=00", NOW, "not a number"),
        (signature_header(SECRET, BODY, timestamp=NOW), NOW + 301, "more than 300 s"),
        (signature_header(SECRET, BODY, timestamp=NOW), NOW - 301, "more than 300 s"),
        (signature_header("whsec_other", BODY, timestamp=NOW), NOW, "no v1 signature matches"),
        (f"t={NOW},v0=abc", NOW, "no v1 signature"),
    ],
)
def test_unverifiable_headers_are_refused_with_the_reason(header: str | None, now: int, message: str) -> None:
    with pytest.raises(InvalidSignature, match=message):
        verify(BODY, header, SECRET, now=now)


def test_a_signed_body_that_is_not_an_event_is_refused() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(InvalidSignature, match="not a Stripe event"):
        verify(body, signature_header(SECRET, body, timestamp=NOW), SECRET, now=NOW)
