"""HTTP bodies for broker connections and the internal (machine) API.

Secrets are ``SecretStr``: their ``repr`` and JSON dump are masked, so a body that ends
up in a log line or an error shows ``**********``; only the vault reveals them, to seal.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, StrictBool

from contracts.base import Contract
from contracts.profile import BotProfile

BrokerKind = Literal["paper", "alpaca", "exchange"]

# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators. A hosted bot
# gets its credentials as KEY=VALUE lines in a .env file, read back with str.splitlines(),
# which also splits on \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029: any of them in a value
# would add lines (settings) of the sender's choosing. No broker issues keys containing them.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def _no_control_characters(value: SecretStr) -> SecretStr:
    if any(unicodedata.category(char) in _LINE_BREAKING for char in value.get_secret_value()):
        # the message never includes the value: it is a secret
        raise ValueError("must not contain control characters or line breaks (copy the key again, without them)")
    return value


Secret = Annotated[SecretStr, Field(min_length=1, max_length=512), AfterValidator(_no_control_characters)]
Label = Annotated[str, Field(min_length=1, max_length=64, description="Your name for this connection.")]


class PaperCredentials(Contract):
    """The built-in simulator needs none."""


class AlpacaCredentials(Contract):
    api_key_id: Secret
    api_secret_key: Secret
    paper: StrictBool = Field(description="True for Alpaca's paper-trading endpoint, false for live trading.")


class ExchangeCredentials(Contract):
    exchange: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,31}$", description="Exchange name, e.g. `kraken`.")
    api_key: Secret
    api_secret: Secret
    passphrase: Secret | None = None
    sandbox: StrictBool = Field(
        default=False,
        description="True for the exchange's test network (ccxt's sandbox mode): such a connection counts as a "
        "paper account. False (the default) is a real account that trades real money.",
    )


CREDENTIAL_MODELS: dict[str, type[Contract]] = {"alpaca": AlpacaCredentials, "exchange": ExchangeCredentials}


def env_keys(kind: str) -> tuple[list[str], list[str]]:
    """The ``.env`` names of a kind's credentials, (required, optional): ``BROKER_<FIELD>``,
    the names a hosted bot's boot writes from its ``broker_token`` and a local bot reads."""
    model = CREDENTIAL_MODELS[kind]
    required = [f"BROKER_{name.upper()}" for name, info in model.model_fields.items() if info.is_required()]
    optional = [f"BROKER_{name.upper()}" for name, info in model.model_fields.items() if not info.is_required()]
    return required, optional


class PaperConnectionCreate(Contract):
    kind: Literal["paper"]
    label: Label
    credentials: PaperCredentials = Field(default_factory=PaperCredentials)


class AlpacaConnectionCreate(Contract):
    kind: Literal["alpaca"]
    label: Label
    credentials: AlpacaCredentials


class ExchangeConnectionCreate(Contract):
    kind: Literal["exchange"]
    label: Label
    credentials: ExchangeCredentials


BrokerConnectionCreate = Annotated[
    PaperConnectionCreate | AlpacaConnectionCreate | ExchangeConnectionCreate, Field(discriminator="kind")
]


def reveal(credentials: Contract) -> dict[str, Any]:
    """The credentials as plain JSON values, for sealing only."""
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials
        if value is not None
    }


class BrokerConnectionAccepted(Contract):
    connection_id: uuid.UUID
    intent_id: str


class BrokerConnectionPublic(Contract):
    id: uuid.UUID
    kind: BrokerKind
    label: str
    paper: bool | None = Field(
        default=None,
        description="True for a paper (or exchange sandbox) account, false for a live account that trades real "
        "money, null when unknown (connected before this was recorded: reconnect it).",
    )
    exchange: str | None = Field(default=None, description="The ccxt exchange id, for `exchange` connections.")
    created_at: datetime
    last_used_at: datetime | None = None


class BrokerConnectionList(Contract):
    connections: list[BrokerConnectionPublic]


class InternalBot(Contract):
    """What a booting hosted bot gets: its profile and which connection it trades through."""

    bot_id: uuid.UUID
    status: str
    profile: BotProfile
    connection: BrokerConnectionPublic | None = Field(description="Null for the built-in paper broker.")
    initial_models: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The first fit the bot's engine would make ({key, model}), fitted once by the control plane; "
        "the bot uses one only if its key is that of its own first fit. Empty when none could be made here.",
    )


class BrokerTokenRequest(Contract):
    bot_id: uuid.UUID


class MachineTokenRequest(Contract):
    """A booting machine's exchange of its single-use bootstrap (sent as the bearer) for its JWT."""

    bot_id: uuid.UUID


class MachineToken(Contract):
    """The machine JWT for the internal API; kept in the boot process's memory only."""

    bot_id: uuid.UUID
    token: str
    expires_at: datetime


class BrokerToken(Contract):
    """Broker credentials for one bot, to be used until ``expires_at`` and then fetched again."""

    bot_id: uuid.UUID
    connection_id: uuid.UUID | None
    kind: BrokerKind
    credentials: dict[str, Any]
    expires_at: datetime


class BusCredentialsRequest(Contract):
    bot_id: uuid.UUID


class BusCredentials(Contract):
    """A hosted bot's own bus identity: a NATS ``.creds`` file, valid until ``expires_at``.

    It may publish ``bots.<bot_id>.>`` and read/write the bot's own checkpoint key, nothing
    else; stopping or deleting the bot revokes it on the bus.
    """

    bot_id: uuid.UUID
    creds: str
    expires_at: datetime
