"""The bus's signing keys and what they sign: the server's trust config and every credential.

NATS decentralized auth (operator -> account -> user JWTs) is used as NATS intends it:

- the **operator** signs accounts (its identity key could live offline; a *signing key*
  does the day-to-day signing);
- the **HMMTRADE** account holds every stream; its signing key signs user credentials;
- the **SYS** account is the server's system account; its one user pushes account
  updates (revocations) to the server's JWT resolver.

All seeds live in one JSON file written 0600 (``bus-keys.json``). Locally, ``hmmtrade up``
and the agent create it; a deployment generates it once with ``hmmtrade bus init`` and
hands each process only what it needs (see docs/SECURITY.md).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nkeys

from events.auth import jwt
from events.auth.roles import (
    ROLE_PERMISSIONS,
    SYSTEM_PERMISSIONS,
    Role,
    bot_permissions,
)

APP_ACCOUNT_NAME = "HMMTRADE"
SYSTEM_ACCOUNT_NAME = "SYS"
KEY_FILE_NAME = "bus-keys.json"
_FIELDS = ("operator", "operator_signing", "account", "account_signing", "system", "system_signing")


@dataclass(frozen=True)
class BusKeys:
    """The six nkey seeds of one bus deployment, and the time its base JWTs were issued."""

    operator: bytes
    operator_signing: bytes
    account: bytes
    account_signing: bytes
    system: bytes
    system_signing: bytes
    issued_at: int

    @classmethod
    def generate(cls, *, issued_at: int | None = None) -> BusKeys:
        prefixes = {
            "operator": nkeys.PREFIX_BYTE_OPERATOR,
            "operator_signing": nkeys.PREFIX_BYTE_OPERATOR,
            "account": nkeys.PREFIX_BYTE_ACCOUNT,
            "account_signing": nkeys.PREFIX_BYTE_ACCOUNT,
            "system": nkeys.PREFIX_BYTE_ACCOUNT,
            "system_signing": nkeys.PREFIX_BYTE_ACCOUNT,
        }
        seeds = {name: jwt.new_seed(prefix) for name, prefix in prefixes.items()}
        return cls(**seeds, issued_at=issued_at if issued_at is not None else int(time.time()))

    @classmethod
    def load(cls, path: Path) -> BusKeys:
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{name: data[name].encode() for name in _FIELDS}, issued_at=int(data["issued_at"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a readable bus key file ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def load_or_create(cls, path: Path) -> BusKeys:
        path = Path(path)
        if path.exists():
            return cls.load(path)
        keys = cls.generate()
        keys.save(path)
        return keys

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {name: getattr(self, name).decode() for name in _FIELDS} | {"issued_at": self.issued_at}
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
        os.replace(tmp, path)

    # ---- public keys ----

    @property
    def account_key(self) -> str:
        return jwt.public_key(self.account)

    @property
    def system_key(self) -> str:
        return jwt.public_key(self.system)

    # ---- what the server trusts ----

    def operator_jwt(self) -> str:
        return jwt.operator_jwt(
            operator_seed=self.operator,
            signing_key=jwt.public_key(self.operator_signing),
            system_account=self.system_key,
            name="hmmtrade",
            iat=self.issued_at,
        )

    def account_jwt(self, *, revocations: dict[str, int] | None = None, iat: int | None = None) -> str:
        return jwt.account_jwt(
            account=self.account_key,
            name=APP_ACCOUNT_NAME,
            signer_seed=self.operator_signing,
            signing_key=jwt.public_key(self.account_signing),
            iat=self.issued_at if iat is None else iat,
            jetstream=True,
            revocations=revocations,
        )

    def system_account_jwt(self) -> str:
        return jwt.account_jwt(
            account=self.system_key,
            name=SYSTEM_ACCOUNT_NAME,
            signer_seed=self.operator_signing,
            signing_key=jwt.public_key(self.system_signing),
            iat=self.issued_at,
            jetstream=False,
        )

    def server_config(self, resolver_dir: Path) -> str:
        """The auth part of a nats-server config: operator mode with a directory resolver.

        The directory resolver keeps pushed account updates (revocations) across restarts;
        the preloads only seed it (an older preload never replaces a newer stored JWT).
        """
        return (
            f'operator: "{self.operator_jwt()}"\n'
            f'system_account: "{self.system_key}"\n'
            "resolver: {\n"
            "  type: full\n"
            f'  dir: "{resolver_dir}"\n'
            "  allow_delete: false\n"
            '  interval: "2m"\n'
            "}\n"
            "resolver_preload: {\n"
            f'  {self.account_key}: "{self.account_jwt()}"\n'
            f'  {self.system_key}: "{self.system_account_jwt()}"\n'
            "}\n"
        )

    # ---- credentials ----

    def role_creds(self, role: Role, *, now: int | None = None) -> str:
        """Long-lived credentials of a service role (rotate by regenerating the key file)."""
        seed = jwt.new_seed(nkeys.PREFIX_BYTE_USER)
        token = jwt.user_jwt(
            user=jwt.public_key(seed),
            name=f"hmmtrade-{role.value}",
            account=self.account_key,
            signer_seed=self.account_signing,
            permissions=ROLE_PERMISSIONS[role],
            iat=int(time.time()) if now is None else now,
        )
        return jwt.creds_text(token, seed)

    def system_creds(self) -> str:
        seed = jwt.new_seed(nkeys.PREFIX_BYTE_USER)
        token = jwt.user_jwt(
            user=jwt.public_key(seed),
            name="hmmtrade-bus-admin",
            account=self.system_key,
            signer_seed=self.system_signing,
            permissions=SYSTEM_PERMISSIONS,
            iat=int(time.time()),
        )
        return jwt.creds_text(token, seed)

    def bot_user_seed(self, bot_id: object, key_id: str) -> bytes:
        """The bot's user key for one launch (``key_id``: the machine token's jti, a run id).

        Derived, not stored: whoever revokes a launch recomputes its public key.
        """
        return jwt.derived_seed(self.account_signing, f"bot:{bot_id}:{key_id}", nkeys.PREFIX_BYTE_USER)

    def bot_user_key(self, bot_id: object, key_id: str) -> str:
        return jwt.public_key(self.bot_user_seed(bot_id, key_id))

    def bot_creds(self, bot_id: object, key_id: str, *, expires_at: int, now: int | None = None) -> str:
        """Credentials that publish ``bots.<id>.>`` and touch the bot's own checkpoint, until ``expires_at``."""
        seed = self.bot_user_seed(bot_id, key_id)
        token = jwt.user_jwt(
            user=jwt.public_key(seed),
            name=f"bot-{bot_id}",
            account=self.account_key,
            signer_seed=self.account_signing,
            permissions=bot_permissions(bot_id),
            iat=int(time.time()) if now is None else now,
            expires_at=expires_at,
        )
        return jwt.creds_text(token, seed)


def write_creds(path: Path, text: str) -> Path:
    """Write a credentials file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return path
