"""Access and refresh tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from api.tokens import InvalidToken, TokenService, generate_private_key_pem


def _service(key: bytes | None = None, **overrides: object) -> TokenService:
    options: dict[str, object] = {
        "issuer": "hmmtrade",
        "audience": "hmmtrade-api",
        "access_ttl_s": 900,
        "refresh_ttl_s": 86_400,
        **overrides,
    }
    return TokenService(key or generate_private_key_pem(), **options)  # type: ignore[arg-type]


def test_minted_access_token_verifies_with_its_claims() -> None:
    tokens = _service()
    token, claims = tokens.mint("user-1", "access")
    verified = tokens.verify(token, "access")
    assert verified == claims and verified.sub == "user-1"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == tokens.kid


def test_expired_token_is_refused() -> None:
    tokens = _service()
    token, _ = tokens.mint("user-1", "access", now=time.time() - 3600)
    with pytest.raises(InvalidToken):
        tokens.verify(token, "access")


def test_refresh_token_is_not_an_access_token_and_vice_versa() -> None:
    tokens = _service()
    refresh, _ = tokens.mint("user-1", "refresh")
    access, _ = tokens.mint("user-1", "access")
    with pytest.raises(InvalidToken, match="access token expected"):
        tokens.verify(refresh, "access")
    tokens.verify(access, "access")  # cached now; a cached access token is still not a refresh token
    with pytest.raises(InvalidToken, match="refresh token expected"):
        tokens.verify(access, "refresh")


@pytest.mark.parametrize("field", ["issuer", "audience"])
def test_token_for_another_issuer_or_audience_is_refused(field: str) -> None:
    key = generate_private_key_pem()
    token, _ = _service(key, **{field: "someone-else"}).mint("user-1", "access")
    with pytest.raises(InvalidToken):
        _service(key).verify(token, "access")


def test_token_signed_by_another_key_is_refused() -> None:
    token, _ = _service().mint("user-1", "access")
    with pytest.raises(InvalidToken, match="unknown signing key"):
        _service().verify(token, "access")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_tokens_with_alg_none_or_hmac_are_refused() -> None:
    tokens = _service()
    genuine, _ = tokens.mint("user-1", "access")
    payload = jwt.decode(genuine, options={"verify_signature": False})
    payload["sub"] = "admin"
    unsigned = f"{_b64({'alg': 'none', 'kid': tokens.kid})}.{_b64(payload)}."
    hmac = jwt.encode(
        payload, "guessed-secret-that-is-long-enough-for-hs256", algorithm="HS256", headers={"kid": tokens.kid}
    )
    tampered = genuine.split(".")[0] + "." + _b64(payload) + "." + genuine.split(".")[2]
    for forged in (unsigned, hmac, tampered):
        with pytest.raises(InvalidToken):
            tokens.verify(forged, "access")
