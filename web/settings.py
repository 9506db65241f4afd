"""The web app's settings, from the environment (the same variables ``hmmtrade up`` sets)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    api_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("HMMTRADE_API_URL"),
        description="The control plane's API, which the web app is a client of.",
    )
    public_url: str = Field(
        default="",
        validation_alias=AliasChoices("HMMTRADE_PUBLIC_URL"),
        description="Where users reach the web app (https in production: cookies are then Secure). "
        "Empty: http://ADDRESS:PORT.",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL"))
    nats_creds: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_WEB_NATS_CREDS", "NATS_CREDS"),
        description="The web app's bus identity: the dashboard role (subscribe only).",
    )
    nats_ca: Path | None = Field(default=None, validation_alias=AliasChoices("NATS_CA"))
    session_idle_s: float = Field(default=12 * 3600, gt=0, validation_alias=AliasChoices("HMMTRADE_WEB_SESSION_IDLE_S"))
    session_absolute_s: float = Field(
        default=7 * 86400, gt=0, validation_alias=AliasChoices("HMMTRADE_WEB_SESSION_MAX_S")
    )
    status_every_s: float = Field(default=5.0, gt=0, validation_alias=AliasChoices("HMMTRADE_WEB_STATUS_EVERY_S"))
    incidents_every_s: float = Field(
        default=5.0,
        gt=0,
        validation_alias=AliasChoices("HMMTRADE_WEB_INCIDENTS_EVERY_S"),
        description="How often a browser session's incident banner may ask the API (and the status page its history).",
    )
    signing_secret: str = Field(
        default="",
        validation_alias=AliasChoices("HMMTRADE_WEB_SECRET"),
        description="Signs page-session ids; set the same value on every replica. Empty: a random one per start.",
    )

    def origin(self, address: str, port: int) -> str:
        return (self.public_url or f"http://{address}:{port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"
