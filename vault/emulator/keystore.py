"""The emulator's keys: crypto keys with numbered versions, kept in their own key file.

Behaves like Cloud KMS where it matters to us: encrypt uses the primary version (or a
named one), the ciphertext records which version made it, decrypt needs that version
ENABLED, a DISABLED version can be re-enabled, a DESTROYED one has lost its material
for good (destruction is immediate here, not scheduled for 30 days). The key file is
rewritten atomically (0600) after every change, so a restarted emulator decrypts what
the previous one encrypted.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENABLED, DISABLED, DESTROYED = 1, 2, 3
STATE_NAMES = {ENABLED: "ENABLED", DISABLED: "DISABLED", DESTROYED: "DESTROYED"}
_FORMAT = "hmmtrade-kms-emulator/1"
_CIPHERTEXT_MAGIC = b"\x0e"
_HEADER = struct.Struct(">cI")  # magic, version number
_NONCE = 12
MAX_PLAINTEXT = 64 * 1024


class KmsApiError(Exception):
    """An error Cloud KMS would answer: HTTP status, gRPC status name, message."""

    def __init__(self, http_status: int, status: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Version:
    number: int
    state: int
    created: str
    material: bytes | None
    destroyed: str | None = None


@dataclass
class CryptoKey:
    name: str
    created: str
    primary: int
    versions: dict[int, Version] = field(default_factory=dict)


def _not_found(what: str, name: str) -> KmsApiError:
    return KmsApiError(404, "NOT_FOUND", f"{what} {name} not found.")


class KeyStore:
    """Thread-safe; every mutation is persisted before it is acknowledged."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._keys: dict[str, CryptoKey] = {}
        if path.exists():
            self._load()

    # ---- persistence --------------------------------------------------------------

    def _load(self) -> None:
        data = json.loads(self._path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"{self._path} is not a KMS emulator key file")
        for name, raw in data["keys"].items():
            key = CryptoKey(name=name, created=raw["created"], primary=int(raw["primary"]))
            for number, v in raw["versions"].items():
                material = base64.b64decode(v["material"]) if v.get("material") else None
                key.versions[int(number)] = Version(
                    int(number), int(v["state"]), v["created"], material, v.get("destroyed")
                )
            self._keys[name] = key

    def _save(self) -> None:
        data: dict[str, Any] = {"format": _FORMAT, "keys": {}}
        for name, key in self._keys.items():
            data["keys"][name] = {
                "created": key.created,
                "primary": key.primary,
                "versions": {
                    str(v.number): {
                        "state": v.state,
                        "created": v.created,
                        "material": base64.b64encode(v.material).decode() if v.material else None,
                        "destroyed": v.destroyed,
                    }
                    for v in key.versions.values()
                },
            }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._path)

    # ---- administration -----------------------------------------------------------

    def ensure_key(self, name: str) -> CryptoKey:
        """The key, created with an enabled primary version 1 if missing."""
        with self._lock:
            if name not in self._keys:
                self._create_key(name)
            return self._keys[name]

    def create_key(self, name: str) -> CryptoKey:
        with self._lock:
            if name in self._keys:
                raise KmsApiError(409, "ALREADY_EXISTS", f"CryptoKey {name} already exists.")
            return self._create_key(name)

    def _create_key(self, name: str) -> CryptoKey:
        created = _now()
        key = CryptoKey(name=name, created=created, primary=1)
        key.versions[1] = Version(1, ENABLED, created, AESGCM.generate_key(bit_length=256))
        self._keys[name] = key
        self._save()
        return key

    def get_key(self, name: str) -> CryptoKey:
        with self._lock:
            return self._key(name)

    def _key(self, name: str) -> CryptoKey:
        key = self._keys.get(name)
        if key is None:
            raise _not_found("CryptoKey", name)
        return key

    def _version(self, key: CryptoKey, number: int) -> Version:
        version = key.versions.get(number)
        if version is None:
            raise _not_found("CryptoKeyVersion", f"{key.name}/cryptoKeyVersions/{number}")
        return version

    def get_version(self, key_name: str, number: int) -> Version:
        with self._lock:
            return self._version(self._key(key_name), number)

    def add_version(self, key_name: str) -> Version:
        with self._lock:
            key = self._key(key_name)
            number = max(key.versions) + 1
            version = Version(number, ENABLED, _now(), AESGCM.generate_key(bit_length=256))
            key.versions[number] = version
            self._save()
            return version

    def set_state(self, key_name: str, number: int, state: int) -> Version:
        if state not in (ENABLED, DISABLED):
            raise KmsApiError(400, "INVALID_ARGUMENT", "state may only be set to ENABLED or DISABLED.")
        with self._lock:
            version = self._version(self._key(key_name), number)
            if version.state == DESTROYED:
                raise KmsApiError(
                    400, "FAILED_PRECONDITION", f"{key_name}/cryptoKeyVersions/{number} is destroyed and can't change."
                )
            version.state = state
            self._save()
            return version

    def destroy(self, key_name: str, number: int) -> Version:
        with self._lock:
            key = self._key(key_name)
            version = self._version(key, number)
            if number == key.primary:
                raise KmsApiError(
                    400, "FAILED_PRECONDITION", f"{key_name}/cryptoKeyVersions/{number} is the primary version."
                )
            version.state, version.material, version.destroyed = DESTROYED, None, _now()
            self._save()
            return version

    def set_primary(self, key_name: str, number: int) -> CryptoKey:
        with self._lock:
            key = self._key(key_name)
            version = self._version(key, number)
            if version.state != ENABLED:
                raise _not_enabled(key.name, version)
            key.primary = number
            self._save()
            return key

    # ---- cryptography -------------------------------------------------------------

    def encrypt(self, name: str, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """(version name, ciphertext) under the primary version, or the version ``name`` names."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise KmsApiError(400, "INVALID_ARGUMENT", f"plaintext is larger than {MAX_PLAINTEXT} bytes.")
        key_name, _, number_text = name.partition("/cryptoKeyVersions/")
        with self._lock:
            key = self._key(key_name)
            version = self._version(key, int(number_text) if number_text.isdigit() else key.primary)
            if version.state != ENABLED or version.material is None:
                raise _not_enabled(key.name, version)
            nonce = os.urandom(_NONCE)
            body = AESGCM(version.material).encrypt(nonce, plaintext, _aad(key.name, aad))
        return f"{key.name}/cryptoKeyVersions/{version.number}", _HEADER.pack(
            _CIPHERTEXT_MAGIC, version.number
        ) + nonce + body

    def decrypt(self, key_name: str, ciphertext: bytes, aad: bytes) -> tuple[bytes, bool]:
        """(plaintext, used the primary version)."""
        invalid = KmsApiError(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        if len(ciphertext) < _HEADER.size + _NONCE + 16 or ciphertext[:1] != _CIPHERTEXT_MAGIC:
            raise invalid
        _, number = _HEADER.unpack_from(ciphertext)
        with self._lock:
            key = self._key(key_name)
            version = key.versions.get(number)
            if version is None:
                raise invalid
            if version.state != ENABLED or version.material is None:
                raise _not_enabled(key.name, version)
            material, primary = version.material, number == key.primary
        nonce = ciphertext[_HEADER.size : _HEADER.size + _NONCE]
        try:
            return AESGCM(material).decrypt(nonce, ciphertext[_HEADER.size + _NONCE :], _aad(key_name, aad)), primary
        except InvalidTag:
            raise invalid from None


def _aad(key_name: str, aad: bytes) -> bytes:
    return key_name.encode() + b"\x00" + aad


def _not_enabled(key_name: str, version: Version) -> KmsApiError:
    return KmsApiError(
        400,
        "FAILED_PRECONDITION",
        f"The request cannot be fulfilled. Resource {key_name}/cryptoKeyVersions/{version.number} "
        f"is not enabled, current state is: {STATE_NAMES.get(version.state, version.state)}.",
    )
