"""Envelope encryption: round trips, and every way a stored envelope refuses to open."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.fakes.kms import FakeKms
from vault import envelope
from vault.errors import InvalidEnvelope, KmsUnavailable

SECRET = b'{"api_key_id":"AK-test","api_secret_key":"s3cr3t"}'
USER, CONNECTION = uuid.uuid4(), uuid.uuid4()


async def _sealed(kms: FakeKms) -> envelope.Sealed:
    return await envelope.seal(kms, kms.key_name, SECRET, user_id=USER, connection_id=CONNECTION)


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


async def test_sealed_secret_opens_for_its_user_and_connection() -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    assert SECRET not in sealed.ciphertext and sealed.kms_key_id.endswith("/cryptoKeyVersions/1")
    assert sealed.scheme_version == envelope.SCHEME_VERSION and len(sealed.iv) == 12 and len(sealed.tag) == 16
    assert await envelope.open_sealed(kms, sealed, user_id=USER, connection_id=CONNECTION) == SECRET


async def test_each_payload_gets_its_own_data_key_and_iv() -> None:
    kms = FakeKms()
    first, second = await _sealed(kms), await _sealed(kms)
    assert first.wrapped_key != second.wrapped_key and first.iv != second.iv
    assert first.ciphertext != second.ciphertext
    assert len(set(kms.seen_plaintexts)) == 2


@pytest.mark.parametrize("field", ["ciphertext", "tag", "iv", "wrapped_key"])
async def test_tampering_with_any_stored_field_is_refused(field: str) -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    tampered = dataclasses.replace(sealed, **{field: _flip(getattr(sealed, field))})
    with pytest.raises(InvalidEnvelope) as refused:
        await envelope.open_sealed(kms, tampered, user_id=USER, connection_id=CONNECTION)
    assert str(refused.value) == "the sealed secret could not be decrypted"  # same words for every cause


@pytest.mark.parametrize("field", ["ciphertext", "tag", "iv", "wrapped_key"])
async def test_truncated_or_emptied_fields_are_refused(field: str) -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    for broken in (getattr(sealed, field)[:-1], b""):
        with pytest.raises(InvalidEnvelope):
            await envelope.open_sealed(
                kms, dataclasses.replace(sealed, **{field: broken}), user_id=USER, connection_id=CONNECTION
            )


async def test_a_row_moved_to_another_user_or_connection_does_not_open() -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(kms, sealed, user_id=uuid.uuid4(), connection_id=CONNECTION)
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(kms, sealed, user_id=USER, connection_id=uuid.uuid4())


async def test_a_changed_scheme_version_or_key_id_is_refused() -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(
            kms, dataclasses.replace(sealed, scheme_version=2), user_id=USER, connection_id=CONNECTION
        )
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(
            kms,
            dataclasses.replace(sealed, kms_key_id="projects/x/locations/l/keyRings/r/cryptoKeys/other"),
            user_id=USER,
            connection_id=CONNECTION,
        )


async def test_the_plaintext_data_key_is_zeroed_after_sealing() -> None:
    kms = FakeKms()
    handed_out: list[bytearray] = []

    def recording_key() -> bytearray:
        handed_out.append(envelope.new_data_key())
        return handed_out[-1]

    await envelope.seal(kms, kms.key_name, SECRET, user_id=USER, connection_id=CONNECTION, data_key=recording_key)
    kms.down = True
    with pytest.raises(KmsUnavailable):
        await envelope.seal(kms, kms.key_name, SECRET, user_id=USER, connection_id=CONNECTION, data_key=recording_key)
    assert len(handed_out) == 2
    assert all(key == bytearray(32) for key in handed_out)  # zeroed on success and on failure


async def test_an_unreachable_kms_is_not_reported_as_a_bad_envelope() -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    kms.down = True
    with pytest.raises(KmsUnavailable):
        await envelope.open_sealed(kms, sealed, user_id=USER, connection_id=CONNECTION)


async def test_rewrap_moves_the_data_key_to_the_new_primary_and_leaves_the_payload_alone() -> None:
    kms = FakeKms()
    sealed = await _sealed(kms)
    kms.rotate()
    rewrapped = await envelope.rewrap(kms, sealed)
    assert rewrapped.kms_key_id.endswith("/cryptoKeyVersions/2") and rewrapped.wrapped_key != sealed.wrapped_key
    assert (rewrapped.ciphertext, rewrapped.iv, rewrapped.tag) == (sealed.ciphertext, sealed.iv, sealed.tag)
    kms.versions[1] = None  # the old version is destroyed
    assert await envelope.open_sealed(kms, rewrapped, user_id=USER, connection_id=CONNECTION) == SECRET
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(kms, sealed, user_id=USER, connection_id=CONNECTION)


def test_repr_shows_no_key_material() -> None:
    sealed = envelope.Sealed(b"\x01" * 9, b"\x02" * 40, b"\x03" * 12, b"\x04" * 16, "k/cryptoKeyVersions/1")
    assert "\\x0" not in repr(sealed) and "9B" in repr(sealed)
