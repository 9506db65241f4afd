"""Control-plane settings, from the environment. Production refuses unsafe defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("HMMTRADE_ENV")
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias=AliasChoices("DATABASE_URL")
    )
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
        description="The bus signing keys (bus-keys.json): they sign each hosted bot's own bus credentials.",
    )
    jwt_private_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_JWT_PRIVATE_KEY_FILE"),
        description="Ed25519 private key (PEM) that signs access tokens. Generated per data dir by `hmmtrade up`.",
    )
    jwt_issuer: str = Field(default="hmmtrade", validation_alias=AliasChoices("HMMTRADE_JWT_ISSUER"))
    jwt_audience: str = Field(default="hmmtrade-api", validation_alias=AliasChoices("HMMTRADE_JWT_AUDIENCE"))
    access_ttl_s: int = Field(default=900, ge=60, le=86_400, validation_alias=AliasChoices("HMMTRADE_ACCESS_TTL_S"))
    refresh_ttl_s: int = Field(
        default=30 * 86_400, ge=3_600, le=365 * 86_400, validation_alias=AliasChoices("HMMTRADE_REFRESH_TTL_S")
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, validation_alias=AliasChoices("HMMTRADE_MAX_BODY_BYTES"))
    publish_timeout_s: float = Field(
        default=2.0, gt=0, le=30, validation_alias=AliasChoices("HMMTRADE_PUBLISH_TIMEOUT_S")
    )
    login_attempts_per_minute: int = Field(
        default=10,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("HMMTRADE_LOGIN_ATTEMPTS_PER_MINUTE"),
        description="Login attempts per minute for one email from one client address.",
    )
    login_attempts_per_address_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        validation_alias=AliasChoices("HMMTRADE_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE"),
        description="Login attempts per minute from one client address, any email. Unset: 10x the per-email budget.",
    )
    signups_per_hour: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        validation_alias=AliasChoices("HMMTRADE_SIGNUPS_PER_HOUR"),
        description="Accounts one client address may create per hour.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("HMMTRADE_FORWARDED_ALLOW_IPS"),
        description=(
            "Comma-separated addresses or CIDR networks of the reverse proxies whose X-Forwarded-For is "
            "believed (the client address that rate limits key on). Empty: believe no one."
        ),
    )
    bus_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias=AliasChoices("HMMTRADE_BUS_REPLICAS"),
        description="Copies of every stream and KV bucket: 1 on one server, 3 in a 3-node cluster (R3).",
    )
    intent_backlog_max: int = Field(
        default=5_000,
        ge=1,
        le=10_000_000,
        validation_alias=AliasChoices("HMMTRADE_INTENT_BACKLOG_MAX"),
        description=(
            "Bot intents waiting for the lifecycle worker above which new ones are refused with 503 and "
            "Retry-After (about 5 s of the workers' throughput on 2 cores; see docs/control-plane.md)."
        ),
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_METRICS_TOKEN"),
        description="Bearer token a scraper sends to GET /metrics. Unset: /metrics answers 404 (metrics off).",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, validation_alias=AliasChoices("HMMTRADE_DB_POOL_SIZE"))
    # ---- broker secrets (KMS) and machine identity -------------------------------------
    kms_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KMS_ENDPOINT"),
        description="Cloud KMS REST endpoint; `http://127.0.0.1:PORT` for the emulator. Unset: Google Cloud KMS.",
    )
    kms_emulator_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KMS_EMULATOR_TOKEN"),
        description=(
            "Bearer token the local KMS emulator accepts; used only when KMS_ENDPOINT is `http://` "
            "(`hmmtrade up` generates it per data dir)."
        ),
    )
    kms_key_name: str = Field(
        default="projects/hmmtrade-local/locations/global/keyRings/hmmtrade/cryptoKeys/broker-secrets",
        pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
        validation_alias=AliasChoices("KMS_KEY_NAME"),
        description="The crypto key that wraps broker-secret data keys.",
    )
    kms_timeout_s: float = Field(default=3.0, gt=0, le=60, validation_alias=AliasChoices("KMS_TIMEOUT_S"))
    machine_jwt_key_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_MACHINE_JWT_KEY_DIR"),
        description="Folder of Ed25519 keys signing machine JWTs (shared with the workers). Unset: in memory.",
    )
    machine_jwt_audience: str = Field(
        default="hmmtrade-internal", validation_alias=AliasChoices("HMMTRADE_MACHINE_JWT_AUDIENCE")
    )
    machine_token_ttl_s: int = Field(
        default=86_400, ge=300, le=30 * 86_400, validation_alias=AliasChoices("HMMTRADE_MACHINE_TOKEN_TTL_S")
    )
    broker_token_ttl_s: int = Field(
        default=900, ge=30, le=900, validation_alias=AliasChoices("HMMTRADE_BROKER_TOKEN_TTL_S")
    )

    # ---- GET /api/v1/status ----------------------------------------------------------------
    fly_api_hostname: str = Field(
        default="https://api.machines.dev",
        validation_alias=AliasChoices("FLY_API_HOSTNAME"),
        description="The Machines API the status check reads; `hmmtrade up` points it at its emulator.",
    )
    fly_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FLY_API_TOKEN"),
        description=(
            "A token that may read the bots' app (`fly tokens create readonly` is enough): the status check "
            "reads GET /v1/apps/{app}. Unset: the status page says Fly is not checked."
        ),
    )
    fly_app_name: str = Field(
        default="hmmtrade-bots", min_length=1, max_length=63, validation_alias=AliasChoices("FLY_APP_NAME")
    )
    status_cache_s: float = Field(
        default=5.0,
        ge=1,
        le=300,
        validation_alias=AliasChoices("HMMTRADE_STATUS_CACHE_S"),
        description="Seconds a status report is reused: the public endpoint cannot make us call vendors faster.",
    )
    status_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=10,
        validation_alias=AliasChoices("HMMTRADE_STATUS_TIMEOUT_S"),
        description="How long each status probe may take before its component shows as down.",
    )
    drain_delay_s: float = Field(
        default=2.0,
        ge=0,
        le=120,
        validation_alias=AliasChoices("HMMTRADE_DRAIN_DELAY_S"),
        description=(
            "On SIGTERM, seconds the API keeps serving while /readyz already answers 503 draining, before it "
            "stops accepting connections: longer than a load balancer needs to see it not ready."
        ),
    )
    drain_timeout_s: int = Field(
        default=10,
        ge=1,
        le=300,
        validation_alias=AliasChoices("HMMTRADE_DRAIN_TIMEOUT_S"),
        description="On SIGTERM, how long requests in flight may take to finish before they are cancelled.",
    )

    @field_validator("fly_api_hostname")
    @classmethod
    def _fly_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"FLY_API_HOSTNAME must be an http(s) URL, not {value!r}")
        return value.rstrip("/")

    @field_validator("fly_api_token", "metrics_token")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None or not value.get_secret_value().strip() else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if entry in ("", "*"):
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return value

    @property
    def login_attempts_per_address(self) -> int:
        return self.login_attempts_per_address_per_minute or self.login_attempts_per_minute * 10

    @model_validator(mode="after")
    def _safe_in_production(self) -> ApiSettings:
        if self.environment == "production" and self.jwt_private_key_file is None:
            raise ValueError("HMMTRADE_JWT_PRIVATE_KEY_FILE must be set in production")
        if self.environment == "production" and self.nats_creds is None:
            raise ValueError("NATS_CREDS must be set in production: the bus refuses anonymous connections")
        if self.environment == "production" and "*" in {p.strip() for p in self.forwarded_allow_ips.split(",")}:
            # '*' lets any client pick the address its rate limits are counted under
            raise ValueError("HMMTRADE_FORWARDED_ALLOW_IPS='*' is refused in production: name your proxies")
        return self
