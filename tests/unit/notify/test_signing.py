"""Webhook signatures: what the notifier sends verifies, and anything altered does not."""

from __future__ import annotations

import pytest

from notify.signing import SignatureMismatch, new_signing_secret, sign, verify

BODY = b'{"id":"bot:7:halt:0","kind":"halt"}'


def test_a_signature_verifies_with_the_same_secret_and_body() -> None:
    secret = new_signing_secret()
    header = sign(secret, BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    verify(secret, BODY, header, now=1_700_000_010)


@pytest.mark.parametrize(
    ("body", "secret_ok", "now", "why"),
    [
        (BODY + b" ", True, 1_700_000_000, "does not match"),
        (BODY, False, 1_700_000_000, "does not match"),
        (BODY, True, 1_700_000_000 + 301, "away from now"),
    ],
)
def test_a_changed_body_another_secret_or_an_old_timestamp_is_refused(
    body: bytes, secret_ok: bool, now: int, why: str
) -> None:
    secret = new_signing_secret()
    header = sign(secret, BODY, timestamp=1_700_000_000)
    with pytest.raises(SignatureMismatch, match=why):
        verify(secret if secret_ok else new_signing_secret(), body, header, now=now)


def test_a_header_without_timestamp_is_refused() -> None:
    with pytest.raises(SignatureMismatch, match="no timestamp"):
        verify(new_signing_secret(), BODY, "v1=abc", now=0)


def test_secrets_are_fresh_and_long() -> None:
    secrets = {new_signing_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(s.startswith("whsec_") and len(s) > 40 for s in secrets)
