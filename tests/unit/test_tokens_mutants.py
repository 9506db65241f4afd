"""Token behaviour that a mutation run (``./dev mutation api/tokens.py``) showed untested.

What a user (or an attacker) would notice: an expired session still accepted because it was
verified once, a refresh token that dies as fast as an access token, tokens that share an id,
a token missing the claims we rely on let through or crashing the API instead of a 401.
"""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Any

import jwt
import pytest

from api.tokens import Claims, InvalidToken, TokenService, TokenUse, generate_private_key_pem

ACCESS_TTL, REFRESH_TTL = 900, 86_400


def _service(key: bytes) -> TokenService:
    return TokenService(
        key, issuer="hmmtrade", audience="hmmtrade-api", access_ttl_s=ACCESS_TTL, refresh_ttl_s=REFRESH_TTL
    )


def _forge(key: bytes, tokens: TokenService, **claims: Any) -> str:
    """A token signed with the service's own key, with chosen claims (``None`` leaves one out)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": "hmmtrade",
        "aud": "hmmtrade-api",
        "sub": "user-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j-1",
        "use": "access",
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": tokens.kid})


def test_an_expired_token_is_refused_even_after_it_was_verified_and_remembered() -> None:
    tokens = _service(generate_private_key_pem())
    t0 = time.time()
    token, claims = tokens.mint("user-1", "access", now=t0)
    assert tokens.verify(token, "access", now=t0) == claims
    with pytest.raises(InvalidToken, match=r"^expired$"):
        tokens.verify(token, "access", now=t0 + ACCESS_TTL + 10)


def test_a_token_never_verified_before_is_refused_once_expired() -> None:
    tokens = _service(generate_private_key_pem())
    t0 = time.time()
    token, _ = tokens.mint("user-1", "access", now=t0)
    with pytest.raises(InvalidToken, match=r"^expired$"):
        tokens.verify(token, "access", now=t0 + ACCESS_TTL + 10)


def test_a_refresh_token_lives_for_the_refresh_lifetime() -> None:
    tokens = _service(generate_private_key_pem())
    t0 = time.time()
    _, access = tokens.mint("user-1", "access", now=t0)
    refresh_token, refresh = tokens.mint("user-1", "refresh", now=t0)
    assert (access.exp, refresh.exp) == (int(t0) + ACCESS_TTL, int(t0) + REFRESH_TTL)
    assert tokens.verify(refresh_token, "refresh", now=t0 + ACCESS_TTL + 10) == refresh


def test_every_token_gets_its_own_id() -> None:
    tokens = _service(generate_private_key_pem())
    ids = {tokens.mint("user-1", "access")[1].jti for _ in range(3)}
    assert len(ids) == 3


def test_the_issue_time_is_kept_to_the_millisecond_rounded_down() -> None:
    tokens = _service(generate_private_key_pem())
    t0 = float(int(time.time())) + 0.1239
    token, claims = tokens.mint("user-1", "access", now=t0)
    assert claims.iat == pytest.approx(int(t0) + 0.123, abs=1e-6)
    assert tokens.verify(token, "access", now=t0).iat == claims.iat


def test_a_token_minted_for_later_is_not_valid_yet() -> None:
    tokens = _service(generate_private_key_pem())
    token, _ = tokens.mint("user-1", "access", now=time.time() + 120)
    with pytest.raises(InvalidToken, match="not yet valid"):
        tokens.verify(token, "access")


def _count_signature_checks(tokens: TokenService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature ``tokens`` checks from now on (a cache miss each)."""
    checks: list[str] = []
    real = tokens._verify_signature

    def spy(token: str, use: TokenUse, *, now: float | None) -> Claims:
        checks.append(token)
        return real(token, use, now=now)

    monkeypatch.setattr(tokens, "_verify_signature", spy)
    return checks


def test_verifying_twice_without_a_clock_works_and_checks_the_signature_once(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = _service(generate_private_key_pem())
    token, claims = tokens.mint("user-1", "access")
    checks = _count_signature_checks(tokens, monkeypatch)
    assert tokens.verify(token, "access") == claims
    assert tokens.verify(token, "access") == claims
    assert checks == [token]


def test_the_verification_cache_forgets_the_oldest_token_first(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = _service(generate_private_key_pem())
    tokens._verified_max = 2
    first, second, third = (tokens.mint(f"user-{i}", "access")[0] for i in range(3))
    for token in (first, second, third):
        tokens.verify(token, "access")
    checks = _count_signature_checks(tokens, monkeypatch)
    tokens.verify(third, "access")
    tokens.verify(second, "access")
    assert checks == []
    tokens.verify(first, "access")
    assert checks == [first]


@pytest.mark.parametrize("missing", ["exp", "sub", "jti", "iat"])
def test_a_token_missing_a_claim_we_rely_on_is_refused(missing: str) -> None:
    key = generate_private_key_pem()
    tokens = _service(key)
    with pytest.raises(InvalidToken, match=f'"{missing}"'):
        tokens.verify(_forge(key, tokens, **{missing: None}), "access")


def test_an_issue_time_ahead_of_this_clock_is_accepted() -> None:
    """Another API instance's clock may run ahead; the issue time is compared with sessions, not the clock."""
    key = generate_private_key_pem()
    tokens = _service(key)
    ahead = tokens.verify(_forge(key, tokens, iat=int(time.time()) + 600), "access")
    assert ahead.sub == "user-1"


@pytest.mark.parametrize("iat", [True, "yesterday"])
def test_an_issue_time_that_is_not_a_number_is_refused(iat: object) -> None:
    key = generate_private_key_pem()
    tokens = _service(key)
    with pytest.raises(InvalidToken, match=r"^iat is not a number$"):
        tokens.verify(_forge(key, tokens, iat=iat), "access")


def test_a_refusal_says_why() -> None:
    key = generate_private_key_pem()
    tokens = _service(key)
    with pytest.raises(InvalidToken, match=r"[Aa]udience"):
        tokens.verify(_forge(key, tokens, aud="someone-else"), "access")
    with pytest.raises(InvalidToken, match=r"^unknown signing key$"):
        _service(generate_private_key_pem()).verify(_forge(key, tokens), "access")


def test_the_clock_leeway_is_five_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server whose clock is a few seconds ahead does not log users out early (PyJWT's clock frozen)."""
    frozen_at = float(int(time.time()))

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> FrozenClock:
            return cls.fromtimestamp(frozen_at, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenClock)
    key = generate_private_key_pem()
    tokens = _service(key)
    expired_4s_ago = _forge(key, tokens, iat=int(frozen_at) - 600, nbf=int(frozen_at) - 600, exp=int(frozen_at) - 4)
    assert tokens.verify(expired_4s_ago, "access").sub == "user-1"
    expired_5s_ago = _forge(key, tokens, iat=int(frozen_at) - 600, nbf=int(frozen_at) - 600, exp=int(frozen_at) - 5)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(expired_5s_ago, "access")


def test_a_token_is_refused_at_its_expiry_second_and_accepted_the_second_before() -> None:
    """RFC 7519 4.1.4: a JWT MUST NOT be accepted on or after its exp; the verification cache agrees."""
    key = generate_private_key_pem()
    t0 = float(int(time.time()))
    token, claims = _service(key).mint("user-1", "access", now=t0)
    fresh = _service(key)
    assert fresh.verify(token, "access", now=claims.exp - 1) == claims
    with pytest.raises(InvalidToken, match=r"^expired$"):
        _service(key).verify(token, "access", now=claims.exp)  # never seen: the signature path
    with pytest.raises(InvalidToken, match=r"^expired$"):
        fresh.verify(token, "access", now=claims.exp)  # seen a second before: the cache path
