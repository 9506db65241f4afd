"""Machine JWTs: what a hosted bot presents to the internal API.

EdDSA (Ed25519) tokens with a ``kid`` header and ``iss``, ``aud``, ``sub = bot:<id>``,
``jti``, ``iat``, ``nbf``, ``exp``. Verification pins the one algorithm, the audience and
the issuer, requires every claim, and picks the key by ``kid`` from the public keys that
are current at ``now`` (time is a parameter, as in ``fernet``). Revocation is not here:
the caller checks the ``jti`` against Postgres.

Rotation: the key ring is a folder of PEM files named ``<activated unix time>-<kid>.pem``
(keys from ``vault.keys``). The newest activated key signs; a key that has been
succeeded keeps verifying for ``overlap_s`` (at least the token lifetime) after its
successor took over, so tokens issued just before a rotation stay good until they
expire; after that it leaves the JWKS and its tokens are refused.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.keys import generate_private_key_pem, key_id, load_private_key, public_raw, write_private_key_file

ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "hmmtrade"
DEFAULT_AUDIENCE = "hmmtrade-internal"
_SUBJECT = re.compile(r"^bot:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_FILE = re.compile(r"^(\d+)-([0-9a-f]{16})\.pem$")
_LEEWAY_S = 5


class InvalidMachineToken(Exception):
    """Missing, malformed, forged, expired, not yet valid, or for another audience/issuer."""


@dataclass(frozen=True)
class RingKey:
    kid: str
    private: Ed25519PrivateKey
    activated_at: float

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


@dataclass(frozen=True)
class MachineClaims:
    bot_id: uuid.UUID
    jti: uuid.UUID
    kid: str
    issued_at: int
    expires_at: int


class KeyRing:
    """Signing keys in activation order; which ones count depends on ``now``."""

    def __init__(self, keys: list[RingKey], *, overlap_s: float) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = sorted(keys, key=lambda k: (k.activated_at, k.kid))
        self.overlap_s = overlap_s

    @classmethod
    def generate(cls, *, overlap_s: float, now: float | None = None) -> KeyRing:
        """A one-key ring held in memory only (tokens die with the process)."""
        private = load_private_key(generate_private_key_pem())
        activated = time.time() if now is None else now
        return cls([RingKey(key_id(private.public_key()), private, activated)], overlap_s=overlap_s)

    def signing_key(self, now: float) -> RingKey:
        active = [k for k in self.keys if k.activated_at <= now] or self.keys[:1]
        return active[-1]

    def verification_keys(self, now: float) -> dict[str, Ed25519PublicKey]:
        """The signing key, plus predecessors still inside their overlap window."""
        current = self.signing_key(now)
        keys: dict[str, Ed25519PublicKey] = {}
        for index, key in enumerate(self.keys):
            successor = self.keys[index + 1] if index + 1 < len(self.keys) else None
            retired_at = successor.activated_at if successor is not None and successor.activated_at <= now else None
            if key is current or (
                key.activated_at <= now and retired_at is not None and now < retired_at + self.overlap_s
            ):
                keys[key.kid] = key.public
        return keys

    def jwks(self, now: float) -> dict[str, Any]:
        """RFC 7517 key set (RFC 8037 OKP keys) of the keys that verify at ``now``."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": base64.urlsafe_b64encode(public_raw(public)).rstrip(b"=").decode(),
                    "kid": kid,
                    "use": "sig",
                    "alg": ALGORITHM,
                }
                for kid, public in self.verification_keys(now).items()
            ]
        }


def load_key_dir(folder: Path, *, overlap_s: float) -> KeyRing:
    """Read a key ring folder, creating its first key if it is empty."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for path in sorted(folder.iterdir()):
        match = _FILE.match(path.name)
        if match:
            keys.append(RingKey(match.group(2), load_private_key(path.read_bytes()), float(match.group(1))))
    if not keys:
        rotate_key_dir(folder, overlap_s=overlap_s, now=0.0)
        return load_key_dir(folder, overlap_s=overlap_s)
    return KeyRing(keys, overlap_s=overlap_s)


def rotate_key_dir(folder: Path, *, overlap_s: float, now: float | None = None) -> str:
    """Add a new signing key active from ``now``; drop keys retired longer than ``overlap_s``. Returns the kid."""
    current = time.time() if now is None else now
    pem = generate_private_key_pem()
    kid = key_id(load_private_key(pem).public_key())
    write_private_key_file(folder / f"{int(current)}-{kid}.pem", pem)
    ring = load_key_dir(folder, overlap_s=overlap_s)
    live = set(ring.verification_keys(current + 1)) | {k.kid for k in ring.keys if k.activated_at > current}
    for path in folder.iterdir():
        match = _FILE.match(path.name)
        if match and match.group(2) not in live:
            path.unlink()
    return kid


class KeyRingFolder:
    """A key ring folder re-read when it changes (a rotation by another process)."""

    def __init__(self, folder: Path, *, overlap_s: float, recheck_s: float = 1.0) -> None:
        self._folder = folder
        self._overlap_s = overlap_s
        self._recheck_s = recheck_s
        self._ring = load_key_dir(folder, overlap_s=overlap_s)
        self._stamp = self._folder_stamp()
        self._checked = time.monotonic()

    def _folder_stamp(self) -> tuple[str, ...]:
        return tuple(sorted(p.name for p in self._folder.iterdir()))

    def ring(self) -> KeyRing:
        if time.monotonic() - self._checked >= self._recheck_s:
            self._checked = time.monotonic()
            stamp = self._folder_stamp()
            if stamp != self._stamp:
                self._ring, self._stamp = load_key_dir(self._folder, overlap_s=self._overlap_s), stamp
        return self._ring


class MachineTokens:
    """Mints and verifies machine JWTs over a key ring (a fixed ring or a folder)."""

    def __init__(self, keys: KeyRing | KeyRingFolder, *, issuer: str, audience: str, ttl_s: int) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s

    @property
    def ring(self) -> KeyRing:
        return self._keys.ring() if isinstance(self._keys, KeyRingFolder) else self._keys

    def mint(
        self, bot_id: uuid.UUID, *, now: float | None = None, ttl_s: int | None = None
    ) -> tuple[str, MachineClaims]:
        issued = int(time.time() if now is None else now)
        key = self.ring.signing_key(issued)
        claims = MachineClaims(
            bot_id=bot_id, jti=uuid.uuid4(), kid=key.kid, issued_at=issued, expires_at=issued + (ttl_s or self.ttl_s)
        )
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"bot:{bot_id}",
            "jti": str(claims.jti),
            "iat": issued,
            "nbf": issued,
            "exp": claims.expires_at,
        }
        token = jwt.encode(payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})
        return token, claims

    def verify(self, token: str, *, now: float | None = None) -> MachineClaims:
        current = time.time() if now is None else now
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise InvalidMachineToken(f"algorithm must be {ALGORITHM}")
            kid = header.get("kid")
            public = self.ring.verification_keys(current).get(kid) if isinstance(kid, str) else None
            if public is None:
                raise InvalidMachineToken("unknown signing key")
            payload = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # time checks are ours, against ``now``
                options={
                    "require": ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidMachineToken(str(exc)) from None
        try:
            exp, nbf, iat = int(payload["exp"]), int(payload["nbf"]), int(payload["iat"])
            jti = uuid.UUID(str(payload["jti"]))
        except (TypeError, ValueError):
            raise InvalidMachineToken("malformed claims") from None
        if exp <= current - _LEEWAY_S:
            raise InvalidMachineToken("expired")
        if nbf > current + _LEEWAY_S or iat > current + _LEEWAY_S:
            raise InvalidMachineToken("not yet valid")
        subject = _SUBJECT.match(str(payload["sub"]))
        if subject is None:
            raise InvalidMachineToken("subject is not a bot")
        return MachineClaims(bot_id=uuid.UUID(subject.group(1)), jti=jti, kid=str(kid), issued_at=iat, expires_at=exp)


def open_machine_tokens(
    key_dir: Path | None,
    *,
    ttl_s: int,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
) -> MachineTokens:
    """Machine tokens over ``key_dir`` (re-read on rotation), or an in-memory ring if ``None``.

    The overlap window equals the token lifetime: a token minted a moment before a
    rotation verifies until it expires.
    """
    keys: KeyRing | KeyRingFolder = (
        KeyRing.generate(overlap_s=ttl_s) if key_dir is None else KeyRingFolder(key_dir, overlap_s=ttl_s)
    )
    return MachineTokens(keys, issuer=issuer, audience=audience, ttl_s=ttl_s)
