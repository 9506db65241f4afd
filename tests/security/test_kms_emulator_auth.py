"""The KMS emulator answers only its own bearer token: a web page's ``text/plain`` POST (no CORS
preflight) cannot encrypt, decrypt or destroy local key versions; the real client with the
token keeps working, and a wrong token is a ``KmsRejected`` naming the setting."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stack import kms_child
from stack.vault_cmd import run_kms_emulator
from vault.emulator import KmsEmulator
from vault.emulator.server import DEFAULT_KEY_NAME, crc32c
from vault.errors import KmsRejected
from vault.gcp import GoogleKms

KEY = DEFAULT_KEY_NAME
TOKEN = "kms-emulator-token-for-this-test"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[KmsEmulator]:
    em = KmsEmulator(tmp_path / "keys.json", token=TOKEN).start()
    yield em
    em.stop()


def _unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["status"] == "UNAUTHENTICATED" and "KMS_EMULATOR_TOKEN" in error["message"]


def test_calls_without_or_with_a_wrong_token_are_401_and_change_nothing(emulator: KmsEmulator) -> None:
    adapter = GoogleKms.from_endpoint(emulator.endpoint, emulator_token=TOKEN)
    under_v1 = adapter.encrypt_sync(KEY, b"data key")
    adapter.client.create_crypto_key_version(parent=KEY)
    adapter.client.update_crypto_key_primary_version(name=KEY, crypto_key_version_id="2")
    plaintext, ciphertext = base64.b64encode(b"x").decode(), base64.b64encode(under_v1.ciphertext).decode()
    base = f"{emulator.endpoint}/v1/{KEY}"
    page = {"Content-Type": "text/plain"}  # what a cross-origin form or fetch() sends without a preflight
    attempts = [
        httpx.post(f"{base}/cryptoKeyVersions/1:destroy", content="{}", headers=page),
        httpx.post(f"{base}/cryptoKeyVersions/1:destroy", json={}, headers={"Authorization": "Bearer wrong"}),
        httpx.post(f"{base}/cryptoKeyVersions/1:destroy", json={}, headers={"Authorization": TOKEN}),  # no scheme
        httpx.post(f"{base}:decrypt", content=json.dumps({"ciphertext": ciphertext}), headers=page),
        httpx.post(f"{base}:encrypt", content=json.dumps({"plaintext": plaintext}), headers=page),
        httpx.post(f"{base}:updatePrimaryVersion", json={"cryptoKeyVersionId": "1"}),
        httpx.post(f"{base}/cryptoKeyVersions", json={}, headers={"Authorization": f"Bearer {TOKEN}x"}),
        httpx.get(base),
    ]
    for response in attempts:
        _unauthenticated(response)

    versions = adapter.client.list_crypto_key_versions(parent=KEY).crypto_key_versions
    assert [v.name.rsplit("/", 1)[1] for v in versions] == ["1", "2"]  # no version was added
    assert adapter.client.get_crypto_key(name=KEY).primary.name.endswith("/2")  # primary not moved back
    assert adapter.decrypt_sync(KEY, under_v1.ciphertext) == b"data key"  # version 1 was not destroyed


def test_the_real_client_sends_the_token_and_a_wrong_or_missing_one_is_kms_rejected(emulator: KmsEmulator) -> None:
    right = GoogleKms.from_endpoint(emulator.endpoint, emulator_token=TOKEN)
    wrapped = right.encrypt_sync(KEY, b"data key")
    assert right.decrypt_sync(KEY, wrapped.ciphertext) == b"data key"

    wrong = GoogleKms.from_endpoint(emulator.endpoint, emulator_token="not-the-token")
    with pytest.raises(KmsRejected, match="KMS_EMULATOR_TOKEN"):  # google.auth's RefreshError, translated
        wrong.decrypt_sync(KEY, wrapped.ciphertext)
    missing = GoogleKms.from_endpoint(emulator.endpoint)
    with pytest.raises(KmsRejected, match="KMS_EMULATOR_TOKEN"):
        missing.encrypt_sync(KEY, b"data key")


def test_the_raw_wire_with_the_token_is_served(emulator: KmsEmulator) -> None:
    body = {"plaintext": base64.b64encode(b"x").decode(), "plaintextCrc32c": str(crc32c(b"x"))}
    ok = httpx.post(f"{emulator.endpoint}/v1/{KEY}:encrypt", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["verifiedPlaintextCrc32c"] is True


def test_an_emulator_without_a_given_token_makes_up_its_own(tmp_path: Path) -> None:
    first, second = KmsEmulator(tmp_path / "a.json"), KmsEmulator(tmp_path / "b.json")
    assert len(first.token) >= 32 and first.token != second.token
    with pytest.raises(ValueError, match="empty"):
        KmsEmulator(tmp_path / "c.json", token=" ")


def test_up_keeps_one_token_per_data_dir_readable_only_by_its_owner(tmp_path: Path) -> None:
    token = kms_child.emulator_token(tmp_path)
    path = tmp_path / "keys" / "kms-emulator-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kms_child.emulator_token(tmp_path) == token and len(token) >= 32
    assert token not in " ".join(kms_child.emulator_argv(tmp_path, 8470, KEY))  # env only, never in `ps`


def test_the_cli_refuses_to_serve_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KMS_EMULATOR_TOKEN", raising=False)
    assert run_kms_emulator(tmp_path / "keys.json", host="127.0.0.1", port=0, keys=[KEY]) == 2
    assert "KMS_EMULATOR_TOKEN" in capsys.readouterr().err
