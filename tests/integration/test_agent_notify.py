"""The whole agent notifies for its local bots: a halt published by a bot on the agent's own bus
reaches the webhook configured on this computer."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from pathlib import Path

import yaml

from agent.home import AgentHome
from agent.instances import write_instance
from agent.notify import config_path
from agent.runtime import AgentSettings, run_agent
from contracts.profile import BotProfile
from events.bus import connect
from events.embedded import NatsServer, free_port
from events.topology import bot_subject
from notify.signing import ID_HEADER
from tests.busauth import bot_creds_file
from tests.conftest import VALID_PROFILE, wait_for
from tests.notifyutil import audit_record, http_receiver

CHANNEL = uuid.uuid4()


async def test_a_local_bots_halt_reaches_the_agents_webhook(tmp_path: Path, nats_server: NatsServer) -> None:
    bot_id = uuid.uuid4()
    home = AgentHome.at(tmp_path / "home")
    body = copy.deepcopy(VALID_PROFILE)
    body["schedule"]["notify"] = {"channels": [str(CHANNEL)], "events": ["halt"]}
    write_instance(home, BotProfile.model_validate(body), bot_id=str(bot_id))
    home.stopped_marker(str(bot_id)).touch()  # the supervisor leaves it alone: this test plays the bot
    async with http_receiver() as receiver:
        path = config_path(home)
        path.write_text(yaml.safe_dump({"channels": [
            {"id": str(CHANNEL), "label": "Ops", "kind": "webhook", "url": receiver.url, "signing_secret": "whsec_x"}
        ]}))  # fmt: skip
        path.chmod(0o600)
        stop = asyncio.Event()
        ready = asyncio.Event()
        agent = asyncio.create_task(
            run_agent(
                AgentSettings(home=home.root, port=free_port(), nats_url=nats_server.url),
                stop=stop,
                on_ready=lambda _ctx: ready.set(),
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), 60)
            # published as the bot itself: its own credentials may publish bots.<its id>.> only
            nc = await connect(nats_server.url, name="test-bot", creds=bot_creds_file(bot_id))
            record = audit_record(bot_id, 3, events=[{"kind": "halt", "rule": "drawdown", "reason": "down 21%"}])
            await nc.publish(bot_subject(bot_id, "audit"), record.model_dump_json().encode())
            await nc.flush()
            await nc.close()

            async def arrived() -> bool:
                return len(receiver.received) == 1

            await wait_for(arrived, timeout_s=20, what="the webhook call")
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent, 60)
    assert receiver.received[0].headers[ID_HEADER] == f"{bot_id}:3:halt:0"
