"""The KMS emulator through the real ``google-cloud-kms`` client, over loopback HTTP."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import kms

from vault import envelope
from vault.emulator import KmsEmulator
from vault.emulator.server import DEFAULT_KEY_NAME, crc32c
from vault.errors import InvalidEnvelope, KmsRejected, KmsUnavailable
from vault.gcp import GoogleKms

KEY = DEFAULT_KEY_NAME
DISABLED = kms.CryptoKeyVersion.CryptoKeyVersionState.DISABLED


def _auth(emulator: KmsEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.token}"}


def _version(number: int) -> str:
    return f"{KEY}/cryptoKeyVersions/{number}"


def test_encrypt_decrypt_round_trip_through_the_real_client(kms_emulator: KmsEmulator) -> None:
    adapter = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    wrapped = adapter.encrypt_sync(KEY, b"a 32-byte data key, for example.")
    assert wrapped.key_version == _version(1)
    assert adapter.decrypt_sync(KEY, wrapped.ciphertext) == b"a 32-byte data key, for example."
    # the raw client sees Google's response shape, checksums included
    response = adapter.client.encrypt(request={"name": KEY, "plaintext": b"x", "plaintext_crc32c": crc32c(b"x")})
    assert response.verified_plaintext_crc32c and response.ciphertext_crc32c == crc32c(response.ciphertext)


async def test_envelope_round_trip_through_the_emulator(kms_emulator: KmsEmulator) -> None:
    adapter = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    user, connection = uuid.uuid4(), uuid.uuid4()
    sealed = await envelope.seal(adapter, KEY, b'{"api_key":"k"}', user_id=user, connection_id=connection)
    assert await envelope.open_sealed(adapter, sealed, user_id=user, connection_id=connection) == b'{"api_key":"k"}'
    with pytest.raises(InvalidEnvelope):
        await envelope.open_sealed(adapter, sealed, user_id=user, connection_id=uuid.uuid4())


def test_the_key_file_outlives_the_process_and_holds_the_material_outside_postgres(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    first = KmsEmulator(key_file).start()
    wrapped = GoogleKms.from_endpoint(first.endpoint, emulator_token=first.token).encrypt_sync(KEY, b"data key")
    first.stop()
    assert key_file.stat().st_mode & 0o777 == 0o600
    second = KmsEmulator(key_file).start()
    try:
        adapter = GoogleKms.from_endpoint(second.endpoint, emulator_token=second.token)
        assert adapter.decrypt_sync(KEY, wrapped.ciphertext) == b"data key"
    finally:
        second.stop()


def test_errors_are_google_error_bodies_that_the_client_maps(kms_emulator: KmsEmulator) -> None:
    client = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token).client
    with pytest.raises(gexc.NotFound, match="not found"):
        client.get_crypto_key(name=KEY + "-missing")
    with pytest.raises(gexc.BadRequest, match="ciphertext is invalid"):
        client.decrypt(request={"name": KEY, "ciphertext": b"\x0e" + b"\x00" * 40})
    raw = requests.post(
        f"{kms_emulator.endpoint}/v1/{KEY}:encrypt",
        json={"plaintext": "not base64!"},
        headers=_auth(kms_emulator),
        timeout=5,
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["status"] == "INVALID_ARGUMENT" and raw.json()["error"]["code"] == 400


def test_request_checksums_are_verified_by_the_server(kms_emulator: KmsEmulator) -> None:
    body = {"plaintext": base64.b64encode(b"data").decode(), "plaintextCrc32c": str(crc32c(b"data") ^ 1)}
    raw = requests.post(
        f"{kms_emulator.endpoint}/v1/{KEY}:encrypt", data=json.dumps(body), headers=_auth(kms_emulator), timeout=5
    )
    assert raw.status_code == 400 and "checksum" in raw.json()["error"]["message"]
    client = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token).client
    ciphertext = client.encrypt(request={"name": KEY, "plaintext": b"data"}).ciphertext
    with pytest.raises(gexc.BadRequest, match="checksum"):
        client.decrypt(request={"name": KEY, "ciphertext": ciphertext, "ciphertext_crc32c": crc32c(ciphertext) ^ 1})


def test_the_adapter_refuses_responses_corrupted_in_transit(kms_emulator: KmsEmulator) -> None:
    adapter = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    wrapped = adapter.encrypt_sync(KEY, b"data key")
    kms_emulator.faults.corrupt_ciphertext = True
    with pytest.raises(KmsRejected, match=r"ciphertext .* checksum"):
        adapter.encrypt_sync(KEY, b"data key")
    kms_emulator.faults.corrupt_ciphertext = False
    kms_emulator.faults.drop_verified_flag = True
    with pytest.raises(KmsRejected, match="did not verify the plaintext checksum"):
        adapter.encrypt_sync(KEY, b"data key")
    kms_emulator.faults.drop_verified_flag = False
    kms_emulator.faults.corrupt_plaintext = True
    with pytest.raises(KmsRejected, match=r"plaintext .* checksum"):
        adapter.decrypt_sync(KEY, wrapped.ciphertext)


def test_versions_rotate_disable_and_destroy_through_the_client(kms_emulator: KmsEmulator) -> None:
    adapter = GoogleKms.from_endpoint(kms_emulator.endpoint, emulator_token=kms_emulator.token)
    client = adapter.client
    under_v1 = adapter.encrypt_sync(KEY, b"old")
    created = client.create_crypto_key_version(parent=KEY, crypto_key_version={})
    assert created.name == _version(2)
    assert client.update_crypto_key_primary_version(name=KEY, crypto_key_version_id="2").primary.name == _version(2)
    under_v2 = adapter.encrypt_sync(KEY, b"new")
    assert under_v2.key_version == _version(2)
    assert adapter.decrypt_sync(KEY, under_v1.ciphertext) == b"old"  # old versions keep decrypting
    client.update_crypto_key_version(
        crypto_key_version={"name": _version(1), "state": DISABLED}, update_mask={"paths": ["state"]}
    )
    with pytest.raises(KmsRejected, match="not enabled"):
        adapter.decrypt_sync(KEY, under_v1.ciphertext)
    client.destroy_crypto_key_version(name=_version(1))
    assert client.get_crypto_key_version(name=_version(1)).state == kms.CryptoKeyVersion.CryptoKeyVersionState.DESTROYED
    with pytest.raises(gexc.BadRequest):
        client.update_crypto_key_version(
            crypto_key_version={"name": _version(1), "state": kms.CryptoKeyVersion.CryptoKeyVersionState.ENABLED},
            update_mask={"paths": ["state"]},
        )
    assert adapter.decrypt_sync(KEY, under_v2.ciphertext) == b"new"
    key_file = json.loads(kms_emulator.key_file.read_text())
    assert key_file["keys"][KEY]["versions"]["1"]["material"] is None  # destroyed means gone
    with pytest.raises(gexc.BadRequest, match="primary"):
        client.destroy_crypto_key_version(name=_version(2))


def test_an_emulator_that_is_gone_is_unavailable_not_refused(tmp_path: Path) -> None:
    emulator = KmsEmulator(tmp_path / "keys.json").start()
    adapter = GoogleKms.from_endpoint(emulator.endpoint, emulator_token=emulator.token, timeout_s=1.0)
    adapter.encrypt_sync(KEY, b"warm the connection pool")
    emulator.stop()
    with pytest.raises(KmsUnavailable):
        adapter.encrypt_sync(KEY, b"data key")
    revived = KmsEmulator(tmp_path / "keys.json", token=emulator.token, port=emulator.port).start()
    try:
        assert adapter.encrypt_sync(KEY, b"data key").key_version == _version(1)
    finally:
        revived.stop()
