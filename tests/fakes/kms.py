"""An in-memory KMS for unit tests of the envelope logic (the wire is tested against the emulator)."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import KmsRejected, KmsUnavailable
from vault.kms import Wrapped


class FakeKms:
    """Versioned keys under one name; ``down`` makes every call fail as unreachable."""

    def __init__(self, key_name: str = "projects/p/locations/l/keyRings/r/cryptoKeys/k") -> None:
        self.key_name = key_name
        self.versions: dict[int, bytes | None] = {1: AESGCM.generate_key(bit_length=256)}
        self.primary = 1
        self.down = False
        self.seen_plaintexts: list[bytes] = []

    def rotate(self) -> int:
        number = max(self.versions) + 1
        self.versions[number] = AESGCM.generate_key(bit_length=256)
        self.primary = number
        return number

    async def encrypt(self, key_name: str, plaintext: bytes) -> Wrapped:
        if self.down:
            raise KmsUnavailable("fake KMS is down")
        if key_name != self.key_name:
            raise KmsRejected("no such key")
        self.seen_plaintexts.append(plaintext)
        material = self.versions[self.primary]
        assert material is not None
        nonce = os.urandom(12)
        body = bytes([self.primary]) + nonce + AESGCM(material).encrypt(nonce, plaintext, None)
        return Wrapped(ciphertext=body, key_version=f"{self.key_name}/cryptoKeyVersions/{self.primary}")

    async def decrypt(self, key_name: str, ciphertext: bytes) -> bytes:
        if self.down:
            raise KmsUnavailable("fake KMS is down")
        if key_name != self.key_name or len(ciphertext) < 14:
            raise KmsRejected("bad request")
        material = self.versions.get(ciphertext[0])
        if material is None:
            raise KmsRejected("version destroyed")
        try:
            return AESGCM(material).decrypt(ciphertext[1:13], ciphertext[13:], None)
        except InvalidTag:
            raise KmsRejected("invalid ciphertext") from None
