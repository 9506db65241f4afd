"""Fly Machines settings, from the environment."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_HOSTNAME = "https://api.machines.dev"


class FlySettings(BaseSettings):
    """Where the Machines API is, which app holds the bot machines, and the image they boot."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FLY_API_TOKEN"),
        description="Bearer token for the Machines API (`fly tokens create deploy`); `hmmtrade up` generates one "
        "for its emulator.",
    )
    app_name: str = Field(
        default="hmmtrade-bots",
        min_length=1,
        max_length=63,
        validation_alias=AliasChoices("FLY_APP_NAME"),
        description="The Fly app whose machines are the hosted bots.",
    )
    api_hostname: str = Field(
        default=DEFAULT_API_HOSTNAME,
        validation_alias=AliasChoices("FLY_API_HOSTNAME"),
        description="Base URL of the Machines API; `hmmtrade up` points it at the local emulator.",
    )
    bot_image: str = Field(
        default="registry.fly.io/hmmtrade-bots:latest",
        min_length=1,
        validation_alias=AliasChoices("FLY_BOT_IMAGE"),
        description="Image reference of the bot image (fly/Dockerfile) that hosted machines boot.",
    )

    @field_validator("api_hostname")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"FLY_API_HOSTNAME must be an http(s) URL such as {DEFAULT_API_HOSTNAME}, not {value!r}")
        return value.rstrip("/")
