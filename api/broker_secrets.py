"""The two ends of a broker secret's life inside a request: seal on connect, open on boot.

Maps vault errors to problem documents: an unreachable KMS is a 503 (retry, nothing was
stored), a refused one on connect is a 503 too (our configuration, not the user's
input), and any failure to open a stored envelope is the one opaque 409.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import structlog

from api.problems import ProblemError
from api.security import SecurityState
from contracts.intents import SealedSecret
from store.connections import ConnectionRow
from vault import envelope
from vault.errors import InvalidEnvelope, KmsRejected, KmsUnavailable

log = structlog.get_logger(__name__)

_RETRY = {"Retry-After": "5"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def seal_credentials(
    security: SecurityState, credentials: dict[str, Any], *, user_id: uuid.UUID, connection_id: uuid.UUID
) -> SealedSecret:
    plaintext = json.dumps(credentials, separators=(",", ":"), sort_keys=True).encode()
    try:
        sealed = await envelope.seal(
            security.kms, security.kms_key_name, plaintext, user_id=user_id, connection_id=connection_id
        )
    except KmsUnavailable as exc:
        log.warning("vault.kms_unavailable", operation="encrypt", error=str(exc))
        raise ProblemError(
            503,
            "The key management service is unavailable, so the broker connection was not saved. Try again shortly.",
            headers=_RETRY,
        ) from None
    except KmsRejected as exc:
        log.error("vault.kms_rejected", operation="encrypt", error=str(exc))
        raise ProblemError(
            503,
            "The key management service refused to encrypt, so the broker connection was not saved.",
            headers=_RETRY,
        ) from None
    return SealedSecret(
        ciphertext_b64=_b64(sealed.ciphertext),
        wrapped_key_b64=_b64(sealed.wrapped_key),
        iv_b64=_b64(sealed.iv),
        tag_b64=_b64(sealed.tag),
        kms_key_id=sealed.kms_key_id,
        scheme_version=sealed.scheme_version,
    )


async def open_credentials(security: SecurityState, row: ConnectionRow) -> dict[str, Any]:
    """The connection's credentials; plaintext lives only in this request's memory."""
    if row.sealed is None:
        if row.kind == "paper":
            return {}
        raise ProblemError(409, "The broker connection holds no credentials; connect the broker again.")
    sealed = row.sealed.envelope()
    try:
        plaintext = await envelope.open_sealed(security.kms, sealed, user_id=row.user_id, connection_id=row.id)
        opened = json.loads(plaintext)
    except KmsUnavailable as exc:
        log.warning("vault.kms_unavailable", operation="decrypt", error=str(exc))
        raise ProblemError(
            503,
            "The key management service is unavailable, so the broker credentials can't be decrypted."
            " Try again shortly.",
            headers=_RETRY,
        ) from None
    except (InvalidEnvelope, ValueError):
        log.error("vault.envelope_refused", connection_id=str(row.id))
        raise ProblemError(
            409, "The broker connection's credentials can't be decrypted; connect the broker again."
        ) from None
    if not isinstance(opened, dict):
        raise ProblemError(409, "The broker connection's credentials can't be decrypted; connect the broker again.")
    return opened
