"""The emulator's HTTP face: Cloud KMS REST (``/v1/...``) on a loopback port.

Speaks what ``google-cloud-kms``'s REST transport sends and parses: JSON bodies with
base64 bytes and int64 checksums as strings, ``:encrypt`` / ``:decrypt`` on a key name,
key and key-version resources (create, get, list, enable/disable via PATCH,
``:destroy``, ``:updatePrimaryVersion``), and errors as Google's
``{"error": {"code", "message", "status"}}`` bodies with the matching HTTP status, which
the client maps to its exceptions (400 -> ``BadRequest``, 404 -> ``NotFound``, …).

Every request must carry ``Authorization: Bearer <token>`` (the emulator's own token, compared
in constant time); anything else is a 401 ``UNAUTHENTICATED`` that touches nothing. The header
is the point: a web page can make a browser send a cross-origin ``text/plain`` POST to a
loopback port without a CORS preflight, but not one with an ``Authorization`` header, and the
emulator answers no preflight. The body is parsed as JSON whatever its content type, so without
the token any page a developer visited could encrypt, decrypt or destroy local key versions.

Request checksums are verified as Cloud KMS does (``plaintextCrc32c``,
``ciphertextCrc32c``) and responses carry theirs. ``faults`` lets a test make the
server lie, to prove the client side checks them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import google_crc32c
import structlog

from vault.emulator.keystore import STATE_NAMES, CryptoKey, KeyStore, KmsApiError, Version

log = structlog.get_logger(__name__)

DEFAULT_KEY_NAME = "projects/hmmtrade-local/locations/global/keyRings/hmmtrade/cryptoKeys/broker-secrets"

_RING = r"projects/[^/:]+/locations/[^/:]+/keyRings/[^/:]+"
_KEY = rf"{_RING}/cryptoKeys/[^/:]+"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(rf"^/v1/(?P<name>{_KEY}(?:/cryptoKeyVersions/[^/:]+)?):encrypt$"), "encrypt"),
    ("POST", re.compile(rf"^/v1/(?P<key>{_KEY}):decrypt$"), "decrypt"),
    ("POST", re.compile(rf"^/v1/(?P<key>{_KEY}):updatePrimaryVersion$"), "update_primary"),
    ("POST", re.compile(rf"^/v1/(?P<key>{_KEY})/cryptoKeyVersions/(?P<number>\d+):destroy$"), "destroy"),
    ("POST", re.compile(rf"^/v1/(?P<key>{_KEY})/cryptoKeyVersions$"), "create_version"),
    ("GET", re.compile(rf"^/v1/(?P<key>{_KEY})/cryptoKeyVersions$"), "list_versions"),
    ("GET", re.compile(rf"^/v1/(?P<key>{_KEY})/cryptoKeyVersions/(?P<number>\d+)$"), "get_version"),
    ("PATCH", re.compile(rf"^/v1/(?P<key>{_KEY})/cryptoKeyVersions/(?P<number>\d+)$"), "update_version"),
    ("GET", re.compile(rf"^/v1/(?P<key>{_KEY})$"), "get_key"),
    ("POST", re.compile(rf"^/v1/(?P<ring>{_RING})/cryptoKeys$"), "create_key"),
]


@dataclass
class Faults:
    """Ways to make the emulator misbehave on purpose (tests only)."""

    corrupt_ciphertext: bool = False  # flip a bit in encrypt responses, keep the checksum
    corrupt_plaintext: bool = False  # flip a bit in decrypt responses, keep the checksum
    drop_verified_flag: bool = False  # omit verifiedPlaintextCrc32c


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:] if data else b"\x01"


def _version_json(key: CryptoKey, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{key.name}/cryptoKeyVersions/{version.number}",
        "state": version.state,
        "protectionLevel": 1,
        "algorithm": 1,
        "createTime": version.created,
    }
    if version.destroyed:
        body["destroyTime"] = body["destroyEventTime"] = version.destroyed
    return body


def _key_json(key: CryptoKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "purpose": 1,
        "createTime": key.created,
        "primary": _version_json(key, key.versions[key.primary]),
        "versionTemplate": {"protectionLevel": 1, "algorithm": 1},
    }


class _Api:
    """The operations, on parsed JSON; raise KmsApiError for a Google error answer."""

    def __init__(self, store: KeyStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    @staticmethod
    def _bytes(body: dict[str, Any], field: str, *, required: bool = True) -> bytes:
        value = body.get(field)
        if value is None or value == "":
            if required:
                raise KmsApiError(400, "INVALID_ARGUMENT", f"{field} is required.")
            return b""
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise KmsApiError(400, "INVALID_ARGUMENT", f"Invalid value at '{field}': not base64.") from None

    @staticmethod
    def _check_crc(body: dict[str, Any], field: str, data: bytes) -> bool:
        sent = body.get(f"{field}Crc32c")
        if sent is None:
            return False
        if int(sent) != crc32c(data):
            raise KmsApiError(
                400,
                "INVALID_ARGUMENT",
                f"The checksum in field {field}_crc32c did not match the data in field {field}.",
            )
        return True

    def encrypt(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        plaintext = self._bytes(body, "plaintext")
        aad = self._bytes(body, "additionalAuthenticatedData", required=False)
        verified = self._check_crc(body, "plaintext", plaintext)
        verified_aad = self._check_crc(body, "additionalAuthenticatedData", aad)
        version_name, ciphertext = self.store.encrypt(name, plaintext, aad)
        answer: dict[str, Any] = {
            "name": version_name,
            "ciphertext": _b64(_flip(ciphertext) if self.faults.corrupt_ciphertext else ciphertext),
            "ciphertextCrc32c": str(crc32c(ciphertext)),
            "verifiedPlaintextCrc32c": verified and not self.faults.drop_verified_flag,
            "verifiedAdditionalAuthenticatedDataCrc32c": verified_aad,
            "protectionLevel": 1,
        }
        return answer

    def decrypt(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        ciphertext = self._bytes(body, "ciphertext")
        aad = self._bytes(body, "additionalAuthenticatedData", required=False)
        self._check_crc(body, "ciphertext", ciphertext)
        self._check_crc(body, "additionalAuthenticatedData", aad)
        plaintext, used_primary = self.store.decrypt(key, ciphertext, aad)
        return {
            "plaintext": _b64(_flip(plaintext) if self.faults.corrupt_plaintext else plaintext),
            "plaintextCrc32c": str(crc32c(plaintext)),
            "usedPrimary": used_primary,
            "protectionLevel": 1,
        }

    def update_primary(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        number = str(body.get("cryptoKeyVersionId", ""))
        if not number.isdigit():
            raise KmsApiError(400, "INVALID_ARGUMENT", "crypto_key_version_id must be a version number.")
        return _key_json(self.store.set_primary(key, int(number)))

    def destroy(self, body: dict[str, Any], key: str, number: str) -> dict[str, Any]:
        return _version_json(self.store.get_key(key), self.store.destroy(key, int(number)))

    def create_version(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        return _version_json(self.store.get_key(key), self.store.add_version(key))

    def list_versions(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        crypto_key = self.store.get_key(key)
        versions = [_version_json(crypto_key, v) for _, v in sorted(crypto_key.versions.items())]
        return {"cryptoKeyVersions": versions, "totalSize": len(versions)}

    def get_version(self, body: dict[str, Any], key: str, number: str) -> dict[str, Any]:
        return _version_json(self.store.get_key(key), self.store.get_version(key, int(number)))

    def update_version(self, body: dict[str, Any], key: str, number: str, *, query: dict[str, list[str]]) -> Any:
        mask = ",".join(query.get("updateMask", []))
        if mask != "state":
            raise KmsApiError(400, "INVALID_ARGUMENT", "update_mask must be exactly 'state'.")
        state = body.get("state")
        by_name = {v: k for k, v in STATE_NAMES.items()}
        state_number = by_name.get(state, state) if isinstance(state, str) else state
        if not isinstance(state_number, int):
            raise KmsApiError(400, "INVALID_ARGUMENT", "state is required.")
        return _version_json(self.store.get_key(key), self.store.set_state(key, int(number), state_number))

    def get_key(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        return _key_json(self.store.get_key(key))

    def create_key(self, body: dict[str, Any], ring: str, *, query: dict[str, list[str]]) -> dict[str, Any]:
        key_id = (query.get("cryptoKeyId") or [""])[0]
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,63}", key_id):
            raise KmsApiError(400, "INVALID_ARGUMENT", "crypto_key_id must match [a-zA-Z0-9_-]{1,63}.")
        return _key_json(self.store.create_key(f"{ring}/cryptoKeys/{key_id}"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's requests.Session expects
    # headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on Linux loopback)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # one structured line per request instead, below

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def _authorized(self) -> bool:
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        expected = self.server.token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), expected)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""  # read even when refused: keeps keep-alive in step
        try:
            if not self._authorized():
                log.warning("kms_emulator.unauthenticated", method=method, path=path)
                raise KmsApiError(
                    401,
                    "UNAUTHENTICATED",
                    "Missing or wrong 'Authorization: Bearer <token>': send the emulator's token "
                    "(KMS_EMULATOR_TOKEN; `hmmtrade up` keeps it in <data dir>/keys/kms-emulator-token).",
                )
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise KmsApiError(400, "INVALID_ARGUMENT", "The request body must be a JSON object.")
            for verb, pattern, operation in _ROUTES:
                match = pattern.match(path)
                if match and verb == method:
                    handler = getattr(self.server.api, operation)
                    kwargs: dict[str, Any] = {"query": query} if operation in ("update_version", "create_key") else {}
                    self._send(200, handler(body, *match.groups(), **kwargs))
                    return
            raise KmsApiError(404, "NOT_FOUND", f"No such method: {method} {path}")
        except KmsApiError as exc:
            self._send(
                exc.http_status,
                {"error": {"code": exc.http_status, "message": exc.message, "status": exc.status, "details": []}},
            )
        except json.JSONDecodeError:
            self._send(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "Invalid JSON payload received.",
                        "status": "INVALID_ARGUMENT",
                        "details": [],
                    }
                },
            )
        except Exception as exc:
            log.exception("kms_emulator.internal_error", path=path)
            self._send(
                500,
                {
                    "error": {
                        "code": 500,
                        "message": f"Internal error: {type(exc).__name__}",
                        "status": "INTERNAL",
                        "details": [],
                    }
                },
            )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: _Api, token: str) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.token = token
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def sever(self) -> None:
        """Close every open keep-alive connection, as a dead process would."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()


class KmsEmulator:
    """The emulator on ``host:port`` (0 = a free port), keys in ``key_file``.

    It accepts exactly ``token`` as a bearer token; without one it makes up a random token
    (``self.token``), so an emulator is never open to every local caller by default.
    """

    def __init__(
        self,
        key_file: Path,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ensure_keys: tuple[str, ...] = (DEFAULT_KEY_NAME,),
    ) -> None:
        if token is not None and not token.strip():
            raise ValueError("the KMS emulator's token must not be empty")
        self.token = token if token is not None else secrets.token_urlsafe(32)
        self.key_file = key_file
        self.host = host
        self.port = port
        self.store = KeyStore(key_file)
        self.faults = Faults()
        for name in ensure_keys:
            self.store.ensure_key(name)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> _Server:
        self._server = _Server((self.host, self.port), _Api(self.store, self.faults), self.token)
        self.port = self._server.server_address[1]
        return self._server

    def start(self) -> KmsEmulator:
        """Serve in a background thread."""
        server = self.bind()
        self._thread = threading.Thread(target=server.serve_forever, name="kms-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        (self._server or self.bind()).serve_forever()

    def stop(self) -> None:
        """Stop listening and drop every connection (clients see the service go away)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.sever()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
