"""Webhook verification behaviour that a mutation run (``./dev mutation billing/webhooks.py``) showed untested.

What an operator would notice: a webhook refused with a crash (500, Stripe retries for days) instead
of a reason, an event without a type accepted and failing later in the route, a signature that only
checks out in tests because production's real-clock path was never exercised.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from billing.webhooks import InvalidSignature, compute_signature, signature_header, verify

SECRET = "whsec_unit_test_secret"
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid"}).encode()
NOW = 1_800_000_000


def _refused(body: bytes, header: str | None, message: str, now: float | None = NOW) -> None:
    with pytest.raises(InvalidSignature, match=f"^{re.escape(message)}$"):
        verify(body, header, SECRET, now=now)


def _signed(body: bytes) -> str:
    return signature_header(SECRET, body, timestamp=NOW)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "the Stripe-Signature header is missing"),
        ("", "the Stripe-Signature header is missing"),
        ("t=abc,v1=00", "the Stripe-Signature timestamp is not a number"),
        (f"t=={NOW},v1=00", "the Stripe-Signature timestamp is not a number"),
        ("v1=00", "the Stripe-Signature header has no timestamp (t=)"),
        (f"t={NOW},v0=00", "the Stripe-Signature header has no v1 signature"),
        (
            f"t={NOW},v1={'0' * 64}",
            "no v1 signature matches the body (forged, altered, or signed with another secret)",
        ),
    ],
)
def test_each_malformed_header_is_refused_with_its_own_reason(header: str | None, message: str) -> None:
    _refused(BODY, header, message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the signed body is not JSON"),
        (b'["evt_1"]', "the signed body is not a Stripe event (no id or type)"),
        (b'{"id": "evt_1"}', "the signed body is not a Stripe event (no id or type)"),
        (b'{"type": "invoice.paid"}', "the signed body is not a Stripe event (no id or type)"),
    ],
)
def test_a_signed_body_that_is_not_a_full_event_is_refused(body: bytes, message: str) -> None:
    _refused(body, _signed(body), message)


def test_a_signature_exactly_at_the_tolerance_still_passes_as_with_stripe() -> None:
    assert verify(BODY, _signed(BODY), SECRET, now=NOW + 300)["id"] == "evt_1"
    assert verify(BODY, _signed(BODY), SECRET, now=NOW - 300)["id"] == "evt_1"


def test_the_real_clock_path_production_uses_accepts_a_fresh_signature_and_refuses_an_old_one() -> None:
    fresh = signature_header(SECRET, BODY)
    assert verify(BODY, fresh, SECRET)["id"] == "evt_1"
    old = int(time.time()) - 3600
    stale = f"t={old},v1={compute_signature(SECRET, old, BODY)}"
    _refused(BODY, stale, "the signature timestamp is more than 300 s from now (replayed or stale)", now=None)
