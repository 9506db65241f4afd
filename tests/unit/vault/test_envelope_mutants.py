"""Envelope behaviour that mutation by hand (issue 21) showed untested: mutmut does not delete calls.

What a user would notice: a broker secret's data key left in memory after it was opened or
re-wrapped (a memory dump would reveal it), and a key migration that silently stays on the old key.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.kms import FakeKms
from vault import envelope
from vault.kms import Wrapped

SECRET = b'{"api_key_id":"AK-test","api_secret_key":"s3cr3t"}'
USER, CONNECTION = uuid.uuid4(), uuid.uuid4()


class TwoKeyKms:
    """Two KMS keys under different names, as when secrets move to a new key ring."""

    def __init__(self) -> None:
        self.old = FakeKms("projects/p/locations/l/keyRings/r/cryptoKeys/old")
        self.new = FakeKms("projects/p/locations/l/keyRings/r2/cryptoKeys/new")

    def _by_name(self, key_name: str) -> FakeKms:
        return self.new if key_name == self.new.key_name else self.old

    async def encrypt(self, key_name: str, plaintext: bytes) -> Wrapped:
        return await self._by_name(key_name).encrypt(key_name, plaintext)

    async def decrypt(self, key_name: str, ciphertext: bytes) -> bytes:
        return await self._by_name(key_name).decrypt(key_name, ciphertext)


def _record_key_buffers(monkeypatch: pytest.MonkeyPatch) -> list[bytearray]:
    """Every bytearray the envelope module makes from now on (its plaintext data keys)."""
    made: list[bytearray] = []

    def recording(*args: object) -> bytearray:
        made.append(bytearray(*args))
        return made[-1]

    monkeypatch.setattr(envelope, "bytearray", recording, raising=False)
    return made


async def test_the_data_key_is_zeroed_after_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    kms = FakeKms()
    sealed = await envelope.seal(kms, kms.key_name, SECRET, user_id=USER, connection_id=CONNECTION)
    made = _record_key_buffers(monkeypatch)
    assert await envelope.open_sealed(kms, sealed, user_id=USER, connection_id=CONNECTION) == SECRET
    assert made == [bytearray(32)]


async def test_the_data_key_is_zeroed_after_re_wrapping(monkeypatch: pytest.MonkeyPatch) -> None:
    kms = FakeKms()
    sealed = await envelope.seal(kms, kms.key_name, SECRET, user_id=USER, connection_id=CONNECTION)
    kms.rotate()
    made = _record_key_buffers(monkeypatch)
    await envelope.rewrap(kms, sealed)
    assert made == [bytearray(32)]


async def test_rewrap_moves_the_data_key_to_the_key_it_is_asked_for() -> None:
    kms = TwoKeyKms()
    sealed = await envelope.seal(kms, kms.old.key_name, SECRET, user_id=USER, connection_id=CONNECTION)
    moved = await envelope.rewrap(kms, sealed, kms.new.key_name)
    assert moved.kms_key_id == f"{kms.new.key_name}/cryptoKeyVersions/1"
    kms.old.versions[1] = None  # the old key destroyed: the secret still opens
    assert await envelope.open_sealed(kms, moved, user_id=USER, connection_id=CONNECTION) == SECRET
