"""Worker settings, from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.topology import LEASE_TTL_S


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

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
        description="The bus signing keys (bus-keys.json): they revoke stopped bots' bus credentials.",
    )
    bus_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias=AliasChoices("HMMTRADE_BUS_REPLICAS"),
        description="Copies of every stream and KV bucket: 1 on one server, 3 in a 3-node cluster (R3).",
    )
    lease_ttl_s: float = Field(
        default=LEASE_TTL_S,
        ge=1,
        le=300,
        validation_alias=AliasChoices("HMMTRADE_LEASE_TTL_S"),
        description=(
            "Seconds a singleton's lease (wake scheduler, ordered consumers) outlives its holder's last renewal: "
            "the longest a dead replica's job waits for a survivor. Set when the lease bucket is created."
        ),
    )
    ack_wait_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_ACK_WAIT_S"),
        description="Seconds before an unacked delivery (a crashed worker's) is redelivered.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        validation_alias=AliasChoices("HMMTRADE_WORKERS_METRICS_PORT"),
        description="Port of the workers' GET /metrics listener (0: any free port). Unset: no listener.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("HMMTRADE_METRICS_HOST"),
        description="Address the metrics listener binds (0.0.0.0 in a container, for the scraper).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_METRICS_TOKEN"),
        description="Bearer token a scraper sends to /metrics. Unset: the listener answers 404 (metrics off).",
    )
    db_pool_size: int = Field(
        default=8,
        ge=2,
        le=200,
        validation_alias=AliasChoices("HMMTRADE_WORKER_DB_POOL_SIZE"),
        description="Postgres connections per worker process (batches use one each; retries use more).",
    )
    machine_jwt_key_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_MACHINE_JWT_KEY_DIR"),
        description="Folder of Ed25519 keys signing machine JWTs (the API's, for minting on machine create).",
    )
    jwt_issuer: str = Field(default="hmmtrade", validation_alias=AliasChoices("HMMTRADE_JWT_ISSUER"))
    machine_jwt_audience: str = Field(
        default="hmmtrade-internal", validation_alias=AliasChoices("HMMTRADE_MACHINE_JWT_AUDIENCE")
    )
    machine_token_ttl_s: int = Field(
        default=86_400, ge=300, le=30 * 86_400, validation_alias=AliasChoices("HMMTRADE_MACHINE_TOKEN_TTL_S")
    )
    machine_bootstrap_ttl_s: int = Field(
        default=600,
        ge=30,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_MACHINE_BOOTSTRAP_TTL_S"),
        description="How long a new machine has to exchange its single-use bootstrap for its machine JWT.",
    )
    bot_api_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_BOT_API_URL"),
        description="The control plane's URL as hosted bots reach it; hosted bots are not launched without it.",
    )
    bot_nats_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_BOT_NATS_URL"),
        description="The bus as hosted bots reach it (default: NATS_URL).",
    )
    alpaca_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_ALPACA_URL"),
        description="Operator only: point hosted bots' Alpaca clients at this base URL (the local Alpaca emulator). "
        "Unset in production, where bots use Alpaca's own endpoints.",
    )
    exchange_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HMMTRADE_EXCHANGE_URL"),
        description="Operator only: point hosted bots' exchange (ccxt) clients at this base URL (the local exchange "
        "emulator). Unset in production.",
    )
    hosted_replay_pace: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        validation_alias=AliasChoices("HMMTRADE_HOSTED_REPLAY_PACE"),
        description="Decision bars per second for hosted bots replaying bundled data (a visible pace for demos).",
    )
    wake_delay_minutes: int = Field(
        default=15,
        ge=0,
        le=24 * 60,
        validation_alias=AliasChoices("HMMTRADE_WAKE_DELAY_MINUTES"),
        description="Scale-to-zero bots are woken this long after their exchange's session close.",
    )
    machine_watch_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_MACHINE_WATCH_S"),
        description="How often the hosting worker looks for machines whose boot was refused (exit 3) to relaunch.",
    )
    machine_relaunches: int = Field(
        default=3,
        ge=0,
        le=20,
        validation_alias=AliasChoices("HMMTRADE_MACHINE_RELAUNCHES"),
        description="Relaunches in a row of a bot whose machines keep being refused at boot, before it is failed.",
    )
    wake_poll_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_WAKE_POLL_S"),
        description="The wake scheduler looks for new sleeping bots at least this often.",
    )
    # ---- notifications (workers.notifier) ----------------------------------------------------
    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("HMMTRADE_ENV")
    )
    kms_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KMS_ENDPOINT"),
        description="Cloud KMS endpoint the notifier opens channel secrets with (the API's). Unset: Google Cloud "
        "KMS in production; elsewhere no notifications are sent (they wait, and go out once it is set).",
    )
    kms_emulator_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("KMS_EMULATOR_TOKEN"))
    kms_timeout_s: float = Field(default=3.0, gt=0, le=60, validation_alias=AliasChoices("KMS_TIMEOUT_S"))
    smtp_host: str | None = Field(
        default=None, validation_alias=AliasChoices("HMMTRADE_SMTP_HOST"), description="SMTP relay; unset: no email."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, validation_alias=AliasChoices("HMMTRADE_SMTP_PORT"))
    smtp_from: str = Field(
        default="HMM Trade <notify@hmmtrade.dev>", validation_alias=AliasChoices("HMMTRADE_SMTP_FROM")
    )
    smtp_username: str | None = Field(default=None, validation_alias=AliasChoices("HMMTRADE_SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(default=None, validation_alias=AliasChoices("HMMTRADE_SMTP_PASSWORD"))
    smtp_starttls: bool = Field(
        default=True,
        validation_alias=AliasChoices("HMMTRADE_SMTP_STARTTLS"),
        description="Upgrade to TLS before logging in; false only for a relay on loopback.",
    )
    telegram_api: str = Field(
        default="https://api.telegram.org",
        validation_alias=AliasChoices("HMMTRADE_TELEGRAM_API"),
        description="Telegram Bot API base URL (a self-hosted Bot API server, or a test receiver).",
    )
    notify_lease_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_NOTIFY_LEASE_S"),
        description="Seconds a claimed delivery is held by one notifier: after a crash it is retried after this.",
    )
    incident_watch_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("HMMTRADE_INCIDENT_WATCH_S"),
        description="Seconds between the incident watch's looks at Fly, Stripe, the bus and the database.",
    )
    incident_open_after_s: float = Field(
        default=120.0,
        ge=0,
        le=86_400,
        validation_alias=AliasChoices("HMMTRADE_INCIDENT_OPEN_AFTER_S"),
        description="How long a dependency must keep failing before the watch opens an incident.",
    )
    incident_close_after_s: float = Field(
        default=120.0,
        ge=0,
        le=86_400,
        validation_alias=AliasChoices("HMMTRADE_INCIDENT_CLOSE_AFTER_S"),
        description="How long it must keep working again before the watch closes its incident.",
    )
    credit_sweep_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        validation_alias=AliasChoices("HMMTRADE_CREDIT_SWEEP_S"),
        description="Seconds between sweeps for closed incidents whose service credits are not all issued.",
    )
    notify_retry_delays_s: tuple[float, ...] = Field(
        default=(5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0),
        validation_alias=AliasChoices("HMMTRADE_NOTIFY_RETRY_DELAYS_S"),
        description="Waits between a failing channel's attempts (JSON list); it is given up after one more.",
    )
