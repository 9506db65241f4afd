"""The Cloud KMS adapter: ``google-cloud-kms`` over its REST transport.

Does the end-to-end integrity checks Google documents for Encrypt/Decrypt: send
``plaintext_crc32c`` / ``ciphertext_crc32c``, require ``verified_plaintext_crc32c``, and
check the CRC32C of what comes back. Pointed at the local emulator by an ``http://`` endpoint
and the emulator's token (sent as ``Authorization: Bearer``); with no endpoint it is real
Cloud KMS with Application Default Credentials.

The client is synchronous (``requests``); calls run in a worker thread. Vendor
exceptions stop here: unreachable/timeouts/5xx -> ``KmsUnavailable``, other API errors,
refused credentials and failed integrity checks -> ``KmsRejected``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import google_crc32c
import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.auth.exceptions import TransportError as GoogleTransportError
from google.cloud import kms
from google.oauth2.credentials import Credentials

from metrics import observe
from vault.errors import KmsRejected, KmsUnavailable
from vault.kms import Wrapped

_UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    gexc.RetryError,
    requests.ConnectionError,
    requests.Timeout,
)


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def make_client(endpoint: str | None, *, emulator_token: str | None = None) -> kms.KeyManagementServiceClient:
    """A REST client: ``http://host:port`` is an emulator (``emulator_token`` as its bearer token);
    anything else is Cloud KMS (Application Default Credentials), at ``endpoint`` if given."""
    if endpoint and endpoint.startswith("http://"):  # plain HTTP is only ever an emulator
        # A static access token: the REST transport sends it as ``Authorization: Bearer``. With no
        # refresh token, the emulator's 401 surfaces as RefreshError (mapped in ``_call``). Without
        # a token the emulator answers 401 naming KMS_EMULATOR_TOKEN, which is the message we want.
        credentials = (
            Credentials(token=emulator_token)  # type: ignore[no-untyped-call]
            if emulator_token
            else AnonymousCredentials()  # type: ignore[no-untyped-call]
        )
        return kms.KeyManagementServiceClient(
            transport="rest", credentials=credentials, client_options={"api_endpoint": endpoint}
        )
    options = {"api_endpoint": endpoint} if endpoint else None
    return kms.KeyManagementServiceClient(transport="rest", client_options=options)


class GoogleKms:
    """:class:`vault.kms.KmsPort` on Cloud KMS (or the emulator)."""

    def __init__(self, client: kms.KeyManagementServiceClient, *, timeout_s: float = 3.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        # One quick retry absorbs a pooled keep-alive connection that the server closed;
        # anything longer is the caller's to retry (a request answers 503 instead of hanging).
        self._retry = Retry(
            predicate=if_exception_type(gexc.ServiceUnavailable, requests.ConnectionError),
            initial=0.05,
            maximum=0.2,
            timeout=timeout_s,
        )

    @classmethod
    def from_endpoint(
        cls, endpoint: str | None, *, emulator_token: str | None = None, timeout_s: float = 3.0
    ) -> GoogleKms:
        try:
            return cls(make_client(endpoint, emulator_token=emulator_token), timeout_s=timeout_s)
        except GoogleAuthError as exc:
            raise KmsUnavailable(f"no credentials for Cloud KMS ({type(exc).__name__})") from None

    @property
    def client(self) -> kms.KeyManagementServiceClient:
        return self._client

    @observe.vendor_call("kms", "encrypt")
    async def encrypt(self, key_name: str, plaintext: bytes) -> Wrapped:
        return await asyncio.to_thread(self.encrypt_sync, key_name, plaintext)

    @observe.vendor_call("kms", "decrypt")
    async def decrypt(self, key_name: str, ciphertext: bytes) -> bytes:
        return await asyncio.to_thread(self.decrypt_sync, key_name, ciphertext)

    def encrypt_sync(self, key_name: str, plaintext: bytes) -> Wrapped:
        request = {"name": key_name, "plaintext": plaintext, "plaintext_crc32c": crc32c(plaintext)}
        response = self._call(self._client.encrypt, request)
        if not response.verified_plaintext_crc32c:
            raise KmsRejected("KMS did not verify the plaintext checksum: the request was corrupted in transit")
        if crc32c(response.ciphertext) != response.ciphertext_crc32c:
            raise KmsRejected("the ciphertext KMS returned does not match its checksum: corrupted in transit")
        return Wrapped(ciphertext=bytes(response.ciphertext), key_version=str(response.name))

    def decrypt_sync(self, key_name: str, ciphertext: bytes) -> bytes:
        request = {"name": key_name, "ciphertext": ciphertext, "ciphertext_crc32c": crc32c(ciphertext)}
        response = self._call(self._client.decrypt, request)
        if crc32c(response.plaintext) != response.plaintext_crc32c:
            raise KmsRejected("the plaintext KMS returned does not match its checksum: corrupted in transit")
        return bytes(response.plaintext)

    @observe.vendor_call("kms", "primary_state")
    async def primary_state(self, key_name: str, *, timeout_s: float) -> str:
        """The state of ``key_name``'s primary version (``ENABLED``, ``DISABLED``, …): a cheap
        ``GetCryptoKey`` that no data passes through, for health checks. No retry."""
        response = await asyncio.to_thread(self._call, self._client.get_crypto_key, {"name": key_name}, timeout_s)
        return str(response.primary.state.name) if response.primary else "NO_PRIMARY"

    def _call(self, method: Any, request: dict[str, Any], timeout_s: float | None = None) -> Any:
        try:
            if timeout_s is not None:
                return method(request=request, retry=None, timeout=timeout_s)
            return method(request=request, retry=self._retry, timeout=self._timeout_s)
        except _UNAVAILABLE as exc:
            raise KmsUnavailable(f"the key management service is unreachable ({type(exc).__name__})") from None
        except gexc.GoogleAPICallError as exc:
            raise KmsRejected(f"the key management service refused: {exc.code} {exc.message}") from None
        except GoogleTransportError as exc:  # fetching a fresh access token failed on the wire
            raise KmsUnavailable(f"no access token for the key management service ({type(exc).__name__})") from None
        except GoogleAuthError:
            # A 401 makes google-auth refresh the credentials: a static token (RefreshError) or
            # anonymous credentials (InvalidOperation) cannot be, so this is the server saying no.
            raise KmsRejected(
                "the key management service refused our credentials (401): for the emulator, "
                "KMS_EMULATOR_TOKEN must be the token it was started with"
            ) from None
