"""Machine JWTs: what verifies, every forgery that is refused, and rotation with overlap."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from vault.machine_jwt import (
    InvalidMachineToken,
    KeyRing,
    KeyRingFolder,
    MachineTokens,
    load_key_dir,
    rotate_key_dir,
)

NOW = 1_800_000_000.0
DAY = 86_400
BOT = uuid.UUID("0b0b0b0b-0000-4000-8000-000000000001")


def _tokens(ring: KeyRing | KeyRingFolder | None = None, **overrides: Any) -> MachineTokens:
    options: dict[str, Any] = {"issuer": "hmmtrade", "audience": "hmmtrade-internal", "ttl_s": DAY, **overrides}
    return MachineTokens(ring or KeyRing.generate(overlap_s=DAY, now=0), **options)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_minted_token_verifies_with_its_claims_and_header() -> None:
    tokens = _tokens()
    token, claims = tokens.mint(BOT, now=NOW)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == claims.kid
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == f"bot:{BOT}" and payload["iss"] == "hmmtrade" and payload["aud"] == "hmmtrade-internal"
    assert payload["exp"] - payload["iat"] == DAY and uuid.UUID(payload["jti"]) == claims.jti
    assert tokens.verify(token, now=NOW + 60) == claims


def test_expired_and_not_yet_valid_tokens_are_refused() -> None:
    tokens = _tokens()
    token, _ = tokens.mint(BOT, now=NOW)
    with pytest.raises(InvalidMachineToken, match="expired"):
        tokens.verify(token, now=NOW + DAY + 60)
    with pytest.raises(InvalidMachineToken, match="not yet valid"):
        tokens.verify(token, now=NOW - 600)


@pytest.mark.parametrize("field", ["issuer", "audience"])
def test_wrong_issuer_or_audience_is_refused(field: str) -> None:
    ring = KeyRing.generate(overlap_s=DAY, now=0)
    token, _ = _tokens(ring, **{field: "someone-else"}).mint(BOT, now=NOW)
    with pytest.raises(InvalidMachineToken):
        _tokens(ring).verify(token, now=NOW)


def test_alg_none_is_refused() -> None:
    tokens = _tokens()
    good, _ = tokens.mint(BOT, now=NOW)
    payload = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(payload)}."
    with pytest.raises(InvalidMachineToken):
        tokens.verify(unsigned, now=NOW)


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    ring = KeyRing.generate(overlap_s=DAY, now=0)
    tokens = _tokens(ring)
    good, claims = tokens.mint(BOT, now=NOW)
    payload = jwt.decode(good, options={"verify_signature": False})
    public_pem = ring.keys[0].public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    segments = [_b64({"alg": "HS256", "typ": "JWT", "kid": claims.kid}), _b64(payload)]
    signing_input = ".".join(segments).encode()
    for secret in (
        public_pem,
        ring.keys[0].public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        forged = ".".join([*segments, base64.urlsafe_b64encode(mac).rstrip(b"=").decode()])
        with pytest.raises(InvalidMachineToken):
            tokens.verify(forged, now=NOW)


def test_unknown_kid_and_foreign_key_are_refused() -> None:
    tokens = _tokens()
    other = _tokens()  # a different key ring altogether
    foreign, _ = other.mint(BOT, now=NOW)
    with pytest.raises(InvalidMachineToken, match="unknown signing key"):
        tokens.verify(foreign, now=NOW)
    # right kid, wrong key: a signature made by someone else's key under our kid
    good, claims = tokens.mint(BOT, now=NOW)
    payload = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(payload, other.ring.keys[0].private, algorithm="EdDSA", headers={"kid": claims.kid})
    with pytest.raises(InvalidMachineToken):
        tokens.verify(forged, now=NOW)


def test_a_subject_that_is_not_a_bot_is_refused() -> None:
    ring = KeyRing.generate(overlap_s=DAY, now=0)
    key = ring.keys[0]
    payload = {
        "iss": "hmmtrade",
        "aud": "hmmtrade-internal",
        "sub": "user:1",
        "jti": str(uuid.uuid4()),
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 60,
    }
    token = jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    with pytest.raises(InvalidMachineToken, match="not a bot"):
        _tokens(ring).verify(token, now=NOW)


@pytest.mark.parametrize("missing", ["jti", "exp", "nbf", "iat", "sub"])
def test_a_token_missing_a_required_claim_is_refused(missing: str) -> None:
    ring = KeyRing.generate(overlap_s=DAY, now=0)
    key = ring.keys[0]
    payload = {
        "iss": "hmmtrade",
        "aud": "hmmtrade-internal",
        "sub": f"bot:{BOT}",
        "jti": str(uuid.uuid4()),
        "iat": int(NOW),
        "nbf": int(NOW),
        "exp": int(NOW) + 60,
    }
    del payload[missing]
    token = jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    with pytest.raises(InvalidMachineToken):
        _tokens(ring).verify(token, now=NOW)


def test_rotation_signs_with_the_new_key_and_the_old_one_verifies_only_during_the_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    first = load_key_dir(folder, overlap_s=DAY)
    old_token, old_claims = _tokens(first).mint(BOT, now=NOW)
    new_kid = rotate_key_dir(folder, overlap_s=DAY, now=NOW + 10)
    ring = load_key_dir(folder, overlap_s=DAY)
    tokens = _tokens(ring)
    new_token, new_claims = tokens.mint(BOT, now=NOW + 20)
    assert new_claims.kid == new_kid != old_claims.kid
    assert tokens.verify(old_token, now=NOW + 30).jti == old_claims.jti  # inside the overlap
    assert {k["kid"] for k in ring.jwks(NOW + 30)["keys"]} == {old_claims.kid, new_kid}
    after = NOW + 10 + DAY + 1
    assert {k["kid"] for k in ring.jwks(after)["keys"]} == {new_kid}
    with pytest.raises(InvalidMachineToken):
        tokens.verify(old_token, now=after)  # the old key left the ring
    assert tokens.verify(new_token, now=after - 20).kid == new_kid


def test_rotating_twice_prunes_keys_retired_longer_than_the_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    load_key_dir(folder, overlap_s=DAY)
    rotate_key_dir(folder, overlap_s=DAY, now=NOW)
    rotate_key_dir(folder, overlap_s=DAY, now=NOW + 2 * DAY)
    assert len(list(folder.iterdir())) == 2  # the very first key was retired at NOW, over a day ago
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in folder.iterdir())


def test_a_key_folder_is_reread_after_another_process_rotates_it(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    watched = KeyRingFolder(folder, overlap_s=DAY, recheck_s=0)
    before = watched.ring().signing_key(time.time()).kid
    after = rotate_key_dir(folder, overlap_s=DAY)
    assert watched.ring().signing_key(time.time() + 1).kid == after != before


def test_jwks_verifies_tokens_with_pyjwt_alone() -> None:
    tokens = _tokens()
    token, _ = tokens.mint(BOT, now=time.time())
    keyset = jwt.PyJWKSet.from_dict(tokens.ring.jwks(time.time()))
    signing = keyset[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, signing.key, algorithms=["EdDSA"], audience="hmmtrade-internal", issuer="hmmtrade")
    assert claims["sub"] == f"bot:{BOT}"
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in tokens.ring.jwks(time.time())["keys"])
