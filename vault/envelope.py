"""Envelope encryption of broker credentials, in the spirit of ``cryptography.fernet``.

``seal``: a fresh random AES-256 data key per payload; the payload is sealed with
AES-256-GCM under associated data naming (user id, connection id, scheme version); the
data key is wrapped by the KMS; the plaintext data key lives in a ``bytearray`` that is
zeroed before returning, whatever happens. ``open_sealed`` reverses it; every failure
to decrypt (tampered field, row moved to another user or connection, shredded or
destroyed key, KMS refusing the wrapped key) is the one opaque :class:`InvalidEnvelope`.
Only an unreachable KMS is told apart (:class:`KmsUnavailable`), because that one is
worth retrying. ``rewrap`` moves a data key under the key's current primary version
without touching the payload ciphertext.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import InvalidEnvelope, KmsRejected
from vault.kms import KmsPort, crypto_key_of

SCHEME_VERSION = 1
_KEY_BYTES = 32
_IV_BYTES = 12
_TAG_BYTES = 16


@dataclass(frozen=True)
class Sealed:
    """What is stored and carried: useless without the KMS."""

    ciphertext: bytes
    wrapped_key: bytes
    iv: bytes
    tag: bytes
    kms_key_id: str  # the key version that wrapped ``wrapped_key``
    scheme_version: int = SCHEME_VERSION

    def __repr__(self) -> str:  # lengths only: never dump the material into a log line
        size = len(self.ciphertext)
        return f"Sealed(kms_key_id={self.kms_key_id!r}, scheme_version={self.scheme_version}, ciphertext={size}B)"


def associated_data(user_id: uuid.UUID, connection_id: uuid.UUID, scheme_version: int) -> bytes:
    """Binds a ciphertext to its owner and its row: copied elsewhere, it no longer opens."""
    return f"hmmtrade/broker-connection/v{scheme_version}/user={user_id}/connection={connection_id}".encode()


def new_data_key() -> bytearray:
    return bytearray(os.urandom(_KEY_BYTES))


def _zero(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


async def seal(
    kms: KmsPort,
    key_name: str,
    plaintext: bytes,
    *,
    user_id: uuid.UUID,
    connection_id: uuid.UUID,
    data_key: Callable[[], bytearray] = new_data_key,
) -> Sealed:
    """Encrypt ``plaintext`` for (user, connection). Raises ``KmsUnavailable`` / ``KmsRejected``."""
    key = data_key()
    try:
        iv = os.urandom(_IV_BYTES)
        sealed = AESGCM(key).encrypt(iv, plaintext, associated_data(user_id, connection_id, SCHEME_VERSION))
        wrapped = await kms.encrypt(key_name, bytes(key))
    finally:
        _zero(key)
    return Sealed(
        ciphertext=sealed[:-_TAG_BYTES],
        wrapped_key=wrapped.ciphertext,
        iv=iv,
        tag=sealed[-_TAG_BYTES:],
        kms_key_id=wrapped.key_version,
    )


async def open_sealed(kms: KmsPort, sealed: Sealed, *, user_id: uuid.UUID, connection_id: uuid.UUID) -> bytes:
    """The plaintext, or ``InvalidEnvelope``; ``KmsUnavailable`` if the KMS can't be reached."""
    if sealed.scheme_version != SCHEME_VERSION or len(sealed.iv) != _IV_BYTES or len(sealed.tag) != _TAG_BYTES:
        raise InvalidEnvelope
    try:
        key = bytearray(await kms.decrypt(crypto_key_of(sealed.kms_key_id), sealed.wrapped_key))
    except KmsRejected:
        raise InvalidEnvelope from None
    try:
        if len(key) != _KEY_BYTES:
            raise InvalidEnvelope
        aad = associated_data(user_id, connection_id, sealed.scheme_version)
        return AESGCM(key).decrypt(sealed.iv, sealed.ciphertext + sealed.tag, aad)
    except InvalidTag:
        raise InvalidEnvelope from None
    finally:
        _zero(key)


async def rewrap(kms: KmsPort, sealed: Sealed, key_name: str | None = None) -> Sealed:
    """The same envelope with its data key wrapped under the primary version of ``key_name``
    (default: the key that wrapped it). The payload ciphertext, IV and tag are untouched."""
    try:
        key = bytearray(await kms.decrypt(crypto_key_of(sealed.kms_key_id), sealed.wrapped_key))
    except KmsRejected:
        raise InvalidEnvelope from None
    try:
        wrapped = await kms.encrypt(key_name or crypto_key_of(sealed.kms_key_id), bytes(key))
    finally:
        _zero(key)
    return replace(sealed, wrapped_key=wrapped.ciphertext, kms_key_id=wrapped.key_version)
