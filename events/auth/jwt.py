"""NATS's own JWTs (operator -> account -> user), signed with nkeys, and ``.creds`` files.

The format is the one ``nats-io/jwt`` v2 writes and nats-server verifies: header
``{"typ":"JWT","alg":"ed25519-nkey"}``, base64url without padding, an Ed25519 signature
by the issuer's nkey over ``header.payload``, claims with ``iss``/``sub`` as nkey public
keys and the type-specific part under ``nats``. We only *write* these tokens (the server
verifies them); :func:`claims_of` reads our own tokens back without verifying, for
labels such as the inbox prefix a credential was issued with.

We encode them here rather than depend on a third-party ``nats-jwt`` package: that one
calls itself untested, pins old ``pytz`` and pulls ``pycryptodome``, and the format is a
page of code. Signing uses the official ``nkeys`` package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import nkeys

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
NO_LIMIT = -1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_seed(prefix: int) -> bytes:
    """A fresh nkey seed for the role ``prefix`` (``nkeys.PREFIX_BYTE_USER``, ...)."""
    return bytes(nkeys.encode_seed(os.urandom(32), prefix))


def derived_seed(secret: bytes, label: str, prefix: int) -> bytes:
    """A seed determined by ``secret`` and ``label``: the same label always gives the same key."""
    raw = hashlib.blake2b(label.encode(), key=secret[:64], digest_size=32).digest()
    return bytes(nkeys.encode_seed(raw, prefix))


def public_key(seed: bytes) -> str:
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


def encode(claims: dict[str, Any], *, signer_seed: bytes) -> str:
    """Sign ``claims`` (``iss`` set from the signer) and return the compact JWT."""
    signer = nkeys.from_seed(bytearray(signer_seed))
    body = {**claims, "iss": signer.public_key.decode(), "jti": ""}
    # jti is the hash of the claims without it, as nats-io/jwt computes it.
    digest = hashlib.new("sha512_256", json.dumps(body, sort_keys=True).encode()).digest()
    body["jti"] = base64.b32encode(digest).rstrip(b"=").decode()
    signing_input = f"{_b64(json.dumps(HEADER).encode())}.{_b64(json.dumps(body).encode())}"
    signature = signer.sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    """The claims of one of our own JWTs, *not verified* (the server verifies)."""
    try:
        payload = token.strip().split(".")[1]
        claims = json.loads(_unb64(payload))
    except (IndexError, ValueError) as exc:
        raise ValueError("not a NATS JWT") from exc
    if not isinstance(claims, dict):
        raise ValueError("not a NATS JWT")
    return claims


@dataclass(frozen=True)
class Permissions:
    """Subjects a user may publish to and subscribe to (allow lists; everything else is denied)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def claims(self) -> dict[str, Any]:
        return {"pub": {"allow": list(self.publish)}, "sub": {"allow": list(self.subscribe)}}


def operator_jwt(*, operator_seed: bytes, signing_key: str, system_account: str, name: str, iat: int) -> str:
    claims = {
        "iat": iat,
        "name": name,
        "sub": public_key(operator_seed),
        "nats": {"signing_keys": [signing_key], "system_account": system_account, "type": "operator", "version": 2},
    }
    return encode(claims, signer_seed=operator_seed)


def account_jwt(
    *,
    account: str,
    name: str,
    signer_seed: bytes,
    signing_key: str,
    iat: int,
    jetstream: bool,
    revocations: dict[str, int] | None = None,
) -> str:
    """An account; ``revocations`` maps a user public key to "JWTs issued at or before this time are void"."""
    limits: dict[str, Any] = {
        "subs": NO_LIMIT,
        "data": NO_LIMIT,
        "payload": NO_LIMIT,
        "imports": NO_LIMIT,
        "exports": NO_LIMIT,
        "wildcards": True,
        "conn": NO_LIMIT,
        "leaf": NO_LIMIT,
    }
    if jetstream:
        limits |= {"mem_storage": NO_LIMIT, "disk_storage": NO_LIMIT, "streams": NO_LIMIT, "consumer": NO_LIMIT}
    nats: dict[str, Any] = {
        "limits": limits,
        "signing_keys": [signing_key],
        "default_permissions": {"pub": {}, "sub": {}},
        "type": "account",
        "version": 2,
    }
    if revocations:
        nats["revocations"] = dict(sorted(revocations.items()))
    return encode({"iat": iat, "name": name, "sub": account, "nats": nats}, signer_seed=signer_seed)


def user_jwt(
    *,
    user: str,
    name: str,
    account: str,
    signer_seed: bytes,
    permissions: Permissions,
    iat: int,
    expires_at: int | None = None,
) -> str:
    """A user of ``account`` signed by one of the account's signing keys."""
    nats: dict[str, Any] = {
        **permissions.claims(),
        "subs": NO_LIMIT,
        "data": NO_LIMIT,
        "payload": NO_LIMIT,
        "issuer_account": account,
        "type": "user",
        "version": 2,
    }
    claims: dict[str, Any] = {"iat": iat, "name": name, "sub": user, "nats": nats}
    if expires_at is not None:
        claims["exp"] = expires_at
    return encode(claims, signer_seed=signer_seed)


def creds_text(jwt: str, seed: bytes) -> str:
    """The ``.creds`` file nats-py (``user_credentials=``) and the nats CLI read."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed.decode()}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


def jwt_of_creds(text: str) -> str:
    lines = text.splitlines()
    try:
        return lines[lines.index("-----BEGIN NATS USER JWT-----") + 1].strip()
    except (ValueError, IndexError) as exc:
        raise ValueError("not a NATS credentials file") from exc
