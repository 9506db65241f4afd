"""Local bots run on their own credentials, which stop working when the agent stops the bot."""

from __future__ import annotations

import stat
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.errors import NoServersError

from agent.bus_access import BotBusAccess
from agent.live import LiveFeed
from agent.supervisor import Supervisor
from events.bus import connect_options
from events.embedded import NatsServer
from tests.agentutil import home_with_bots
from tests.busauth import BUS_KEYS
from tests.conftest import wait_for


async def _refused(url: str, creds: Path) -> bool:
    try:
        client = await nats.connect(url, allow_reconnect=False, connect_timeout=2, **connect_options(creds))
    except (NatsError, NoServersError):
        return True
    await client.close()
    return False


async def test_a_local_bot_trades_on_its_own_credentials_until_it_is_stopped(
    tmp_path: Path, nats_server: NatsServer, feed: LiveFeed
) -> None:
    home, (bot_id,) = home_with_bots(tmp_path / "home", bars=420)
    access = BotBusAccess(home, BUS_KEYS, nats_server.url)
    supervisor = Supervisor(
        home,
        env={"NATS_URL": nats_server.url, "HMMTRADE_REPLAY_PACE": "20"},
        last_status=feed.last_status,
        bus_access=access,
    )
    await supervisor.start(interval_s=0.2)
    try:

        async def ticking() -> bool:
            return feed.bot(bot_id).last_tick_seq >= 5

        await wait_for(ticking, timeout_s=60, what="5 ticks from the bot")
        creds = access.creds_path(bot_id)
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        environ = Path(f"/proc/{supervisor.bots[bot_id].pid}/environ").read_bytes().split(b"\0")
        assert f"NATS_CREDS={creds}".encode() in environ, "the bot runs on its own credentials, not the agent's"
        assert not await _refused(nats_server.url, creds)

        await supervisor.stop(bot_id)
        assert await _refused(nats_server.url, creds), "a stopped bot's credentials still connect"
    finally:
        await supervisor.close()
        await access.close()
