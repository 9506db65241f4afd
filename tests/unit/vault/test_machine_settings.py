"""A worker configured from the same environment as the API mints tokens the API accepts."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from api.security import build_security
from api.settings import ApiSettings
from vault.machine_jwt import InvalidMachineToken
from workers.machine_identity import machine_tokens_for
from workers.settings import WorkerSettings


def test_worker_and_api_agree_on_key_folder_issuer_and_audience(tmp_path: Path) -> None:
    env = {
        "HMMTRADE_MACHINE_JWT_KEY_DIR": tmp_path / "keys",
        "HMMTRADE_JWT_ISSUER": "hmmtrade-staging",
        "HMMTRADE_MACHINE_JWT_AUDIENCE": "staging-internal",
        "HMMTRADE_MACHINE_TOKEN_TTL_S": 3600,
    }
    api = build_security(ApiSettings(HMMTRADE_ENV="test", **env))  # type: ignore[arg-type]
    worker = machine_tokens_for(WorkerSettings(**env))  # type: ignore[arg-type]
    bot = uuid.uuid4()
    token, claims = worker.mint(bot)
    assert api.machine_tokens.verify(token).bot_id == bot and claims.expires_at - claims.issued_at == 3600
    other = machine_tokens_for(WorkerSettings(HMMTRADE_MACHINE_JWT_KEY_DIR=tmp_path / "other"))  # type: ignore[arg-type]
    with pytest.raises(InvalidMachineToken):
        api.machine_tokens.verify(other.mint(bot)[0])
