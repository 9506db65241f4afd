"""The cached cloud login: ``<user config dir>/hmmtrade/login.json``, mode 0600.

``HMMTRADE_CONFIG_DIR`` overrides the folder (tests, several accounts). The file also
records the last successful contact with the cloud, which starts the 24 h offline grace.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    override = os.environ.get("HMMTRADE_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("hmmtrade"))


@dataclass(frozen=True)
class CachedLogin:
    api_url: str
    email: str
    access_token: str
    refresh_token: str
    last_success_at: str  # ISO 8601 UTC: the last time the cloud answered us

    def with_tokens(self, access_token: str, refresh_token: str) -> CachedLogin:
        return replace(self, access_token=access_token, refresh_token=refresh_token)

    def with_success(self, at: datetime) -> CachedLogin:
        return replace(self, last_success_at=at.isoformat())

    @property
    def last_success(self) -> datetime:
        return datetime.fromisoformat(self.last_success_at)

    def __repr__(self) -> str:  # never print tokens
        return f"CachedLogin(api_url={self.api_url!r}, email={self.email!r}, last_success_at={self.last_success_at!r})"


class TokenStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / "login.json"

    def load(self) -> CachedLogin | None:
        try:
            body = json.loads(self.path.read_text())
            return CachedLogin(**body)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, login: CachedLogin) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(".login.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(asdict(login)).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
