"""The KMS port: wrap and unwrap small secrets (data keys) under a named key.

A key name is a Cloud KMS ``cryptoKeys`` resource name; wrapping always uses that key's
primary version and reports which version it used, unwrapping finds the version from
the ciphertext itself (as Cloud KMS does), so rotation needs no bookkeeping here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Wrapped:
    ciphertext: bytes
    key_version: str  # ``.../cryptoKeys/K/cryptoKeyVersions/N`` that produced it


class KmsPort(Protocol):
    """What the vault needs from a key management service.

    Raise :class:`vault.errors.KmsUnavailable` when the service cannot be reached and
    :class:`vault.errors.KmsRejected` when it refuses (including undecryptable input).
    """

    async def encrypt(self, key_name: str, plaintext: bytes) -> Wrapped: ...

    async def decrypt(self, key_name: str, ciphertext: bytes) -> bytes: ...


def crypto_key_of(key_version: str) -> str:
    """``.../cryptoKeys/K/cryptoKeyVersions/3`` -> ``.../cryptoKeys/K`` (a key name is returned as is)."""
    head, sep, _ = key_version.partition("/cryptoKeyVersions/")
    return head if sep else key_version
