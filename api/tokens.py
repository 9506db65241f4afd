"""Access and refresh tokens: EdDSA (Ed25519) JWTs with ``kid``, ``iss``, ``aud``, ``sub``, ``exp``.

Verification pins the one algorithm, the audience and the issuer, and requires the
claims we rely on, as PyJWT's docs advise. Time is a parameter for tests.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from vault.keys import generate_private_key_pem, key_id, load_or_create_key_file, load_private_key

__all__ = ["Claims", "InvalidToken", "TokenService", "generate_private_key_pem", "load_or_create_key_file"]

TokenUse = Literal["access", "refresh"]


class InvalidToken(Exception):
    """The token is missing, expired, forged, or for another audience or use."""


@dataclass(frozen=True)
class Claims:
    sub: str
    jti: str
    exp: int
    use: TokenUse
    iat: float  # issue time in milliseconds' precision, compared with a user's ``tokens_valid_after``


class TokenService:
    def __init__(
        self,
        private_key_pem: bytes,
        *,
        issuer: str,
        audience: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
    ) -> None:
        key = load_private_key(private_key_pem)
        self._private = key
        self._public = key.public_key()
        self.kid = key_id(self._public)
        self.issuer = issuer
        self.audience = audience
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        # Signature checks dominate an authenticated request's CPU; a token is immutable,
        # so a successful verification is remembered until the token expires.
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._verified_max = 50_000

    def mint(self, subject: str, use: TokenUse, *, now: float | None = None) -> tuple[str, Claims]:
        current = now if now is not None else time.time()
        issued = int(current)
        # iat to the millisecond (RFC 7519 allows a fractional NumericDate), rounded down so a
        # token never looks younger than it is: whole seconds could not tell a token minted
        # just before a session burn from one minted just after it in the same second.
        issued_at = math.floor(current * 1000) / 1000
        ttl = self.access_ttl_s if use == "access" else self.refresh_ttl_s
        claims = Claims(sub=subject, jti=str(uuid.uuid4()), exp=issued + ttl, use=use, iat=issued_at)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued,
            "exp": claims.exp,
            "jti": claims.jti,
            "use": use,
        }
        token = jwt.encode(payload, self._private, algorithm="EdDSA", headers={"kid": self.kid})
        return token, claims

    def verify(self, token: str, use: TokenUse, *, now: float | None = None) -> Claims:
        current = time.time() if now is None else now
        cached = self._verified.get(token)
        if cached is not None and cached.use == use and cached.exp > current:
            return cached
        claims = self._verify_signature(token, use, now=now)
        self._verified[token] = claims
        while len(self._verified) > self._verified_max:
            self._verified.popitem(last=False)
        return claims

    def _verify_signature(self, token: str, use: TokenUse, *, now: float | None) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise InvalidToken("unknown signing key")
            payload = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=5,
                options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"], "verify_iat": False},
            )
            if now is not None and payload["exp"] <= now:  # RFC 7519: not accepted on or after exp
                raise InvalidToken("expired")
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if payload.get("use") != use:
            raise InvalidToken(f"wrong token type: {use} token expected")
        iat = payload["iat"]
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise InvalidToken("iat is not a number")
        return Claims(
            sub=str(payload["sub"]), jti=str(payload["jti"]), exp=int(payload["exp"]), use=use, iat=float(iat)
        )
