"""What the API holds for broker secrets and machine identity: the KMS and machine tokens.

Built by ``create_app``'s lifespan and kept on ``app.state.security``. The KMS client is
created on first use, so an API that never handles a broker secret needs no KMS. Outside
production an unset ``KMS_ENDPOINT`` is an unavailable KMS (503), never Google's default
credentials: a test or a laptop must not go looking for a cloud metadata server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import Depends, Request

from api.settings import ApiSettings
from vault.errors import KmsUnavailable
from vault.gcp import GoogleKms
from vault.kms import KmsPort
from vault.machine_jwt import MachineTokens, open_machine_tokens

log = structlog.get_logger(__name__)


@dataclass
class SecurityState:
    settings: ApiSettings
    machine_tokens: MachineTokens
    _kms: KmsPort | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kms_key_name(self) -> str:
        return self.settings.kms_key_name

    @property
    def kms(self) -> KmsPort:
        with self._lock:
            if self._kms is None:
                endpoint = self.settings.kms_endpoint
                if endpoint is None and self.settings.environment != "production":
                    # never reach for Google's credentials (or the metadata server) by accident
                    raise KmsUnavailable(
                        "KMS_ENDPOINT is not set: run `hmmtrade kms-emulator` (or `hmmtrade up`) and point it there"
                    )
                token = self.settings.kms_emulator_token
                self._kms = GoogleKms.from_endpoint(
                    endpoint,
                    emulator_token=token.get_secret_value() if token else None,
                    timeout_s=self.settings.kms_timeout_s,
                )
            return self._kms


def build_security(settings: ApiSettings, *, kms: KmsPort | None = None) -> SecurityState:
    if settings.machine_jwt_key_dir is None:
        log.warning(
            "api.ephemeral_machine_keys",
            detail="HMMTRADE_MACHINE_JWT_KEY_DIR is unset: machine tokens verify only in this process",
        )
    tokens = open_machine_tokens(
        settings.machine_jwt_key_dir,
        ttl_s=settings.machine_token_ttl_s,
        issuer=settings.jwt_issuer,
        audience=settings.machine_jwt_audience,
    )
    return SecurityState(settings=settings, machine_tokens=tokens, _kms=kms)


async def get_security(request: Request) -> SecurityState:
    security: SecurityState = request.app.state.security
    return security


Security = Annotated[SecurityState, Depends(get_security)]
