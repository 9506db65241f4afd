"""Each local bot's own bus identity on the agent's embedded server, and its revocation.

The agent owns its server's signing keys (``HOME/keys/bus-keys.json``). Every spawn of a
bot gets fresh credentials (``state/<id>/bus.creds``, 0600) that publish only
``bots.<id>.>`` and touch only the bot's checkpoint key, valid for a week and renewed at
half-life while the bot runs (nats-py re-reads the file when it reconnects). Every key
ever issued to the bot is listed beside them, so stopping or deleting the bot revokes
them all on the server: a copied credentials file stops working with the bot.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.client import RawCredentials

from agent.home import AgentHome
from events.auth.keys import BusKeys, write_creds
from events.auth.revoke import MAX_CREDENTIAL_LIFETIME_S, revoke_users
from events.bus import connect

log = structlog.get_logger(__name__)

BOT_CREDS_TTL_S = MAX_CREDENTIAL_LIFETIME_S


class BotBusAccess:
    def __init__(self, home: AgentHome, keys: BusKeys, nats_url: str, *, ttl_s: int = BOT_CREDS_TTL_S) -> None:
        self._home, self._keys, self._url, self._ttl_s = home, keys, nats_url, ttl_s
        self._system: NatsClient | None = None

    def creds_path(self, bot_id: str) -> Path:
        return self._home.state_dir(bot_id) / "bus.creds"

    def _users_path(self, bot_id: str) -> Path:
        return self._home.state_dir(bot_id) / "bus.users"

    def issue(self, bot_id: str) -> Path:
        """New credentials for ``bot_id`` (recorded for revocation before they are written)."""
        key_id = uuid.uuid4().hex
        users = self._users_path(bot_id)
        users.parent.mkdir(parents=True, exist_ok=True)
        with users.open("a") as out:
            out.write(self._keys.bot_user_key(bot_id, key_id) + "\n")
        creds = self._keys.bot_creds(bot_id, key_id, expires_at=int(time.time()) + self._ttl_s)
        return write_creds(self.creds_path(bot_id), creds)

    def renew_if_due(self, bot_id: str) -> None:
        """Re-issue credentials past half their lifetime (a long-running bot never loses the bus)."""
        path = self.creds_path(bot_id)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - path.stat().st_mtime < self._ttl_s / 2:
                return
        self.issue(bot_id)

    async def revoke(self, bot_id: str) -> None:
        """Void every credential ever issued to ``bot_id`` and disconnect whoever holds one."""
        try:
            users = [line.strip() for line in self._users_path(bot_id).read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return
        if self._system is None:
            self._system = await connect(
                self._url, name="hmmtrade-agent-revoker", creds=RawCredentials(self._keys.system_creds())
            )
        await revoke_users(self._system, self._keys, users)
        log.info("agent.bus_revoked", bot_id=bot_id, keys=len(users))

    async def close(self) -> None:
        if self._system is not None and not self._system.is_closed:
            await self._system.close()
