"""How a service reaches the bus, from the environment: shared by the API's and the workers' settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL"))
    nats_creds: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("NATS_CREDS"),
        description="This service's bus credentials (a NATS .creds file). Written per data dir by `hmmtrade up`.",
    )
    nats_ca: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("NATS_CA"),
        description="CA certificate the bus's TLS certificate is checked against (tls:// URLs).",
    )
    bus_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_BUS_KEY_FILE"),
        description="The bus signing keys (bus-keys.json): the API signs hosted bots' bus credentials with them,"
        " the workers revoke those credentials with them.",
    )
