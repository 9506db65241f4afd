"""The agent's own notifications: channels from notify.yaml, a SQLite ledger, delivery to real local servers."""

from __future__ import annotations

import copy
import time
import uuid
from pathlib import Path

import pytest
import yaml

from agent.home import AgentHome
from agent.notify import LocalNotifications, NotifyConfigError, config_path, load_config
from contracts.events import BotHeartbeat
from contracts.profile import BotProfile
from notify.signing import ID_HEADER, SIGNATURE_HEADER, verify
from tests.conftest import VALID_PROFILE, wait_for
from tests.notifyutil import HttpReceiver, audit_record, http_receiver

SECRET = "whsec_local-test-secret"
CHANNEL = uuid.UUID("7b0e1c55-4c1f-4a55-9d11-3f6c2d8a0b01")
BOT = uuid.uuid4()
HALT = [{"kind": "halt", "rule": "drawdown", "reason": "drawdown 21% exceeds the 20% limit"}]


def _home(tmp_path: Path, url: str, mode: int = 0o600) -> AgentHome:
    home = AgentHome.at(tmp_path / "home")
    path = config_path(home)
    channel = {"id": str(CHANNEL), "label": "Ops", "kind": "webhook", "url": url, "signing_secret": SECRET}
    path.write_text(yaml.safe_dump({"channels": [channel]}))
    path.chmod(mode)
    return home


def _profile(events: list[str]) -> BotProfile:
    body = copy.deepcopy(VALID_PROFILE)
    body["schedule"]["notify"] = {"channels": [str(CHANNEL)], "events": events}
    return BotProfile.model_validate(body)


def _notifier(home: AgentHome, profile: BotProfile) -> LocalNotifications:
    return LocalNotifications(home, lambda bot_id: profile if bot_id == str(BOT) else None, retry_delays_s=[0.1])


async def _received(receiver: HttpReceiver, count: int) -> bool:
    return len(receiver.received) >= count


def test_a_config_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    home = _home(tmp_path, "http://127.0.0.1:9/", mode=0o644)
    with pytest.raises(NotifyConfigError, match="chmod 600"):
        load_config(config_path(home))


async def test_a_halt_is_delivered_once_signed_and_not_again_after_a_restart(tmp_path: Path) -> None:
    async with http_receiver() as receiver:
        home = _home(tmp_path, f"{receiver.url}/hook")
        record = audit_record(BOT, 4, events=HALT)
        first = _notifier(home, _profile(["halt"]))
        first.loop.start()
        try:
            assert first.ingest(f"bots.{BOT}.audit", record.model_dump_json().encode()) == 1
            assert first.ingest(f"bots.{BOT}.audit", record.model_dump_json().encode()) == 0
            await wait_for(lambda: _received(receiver, 1), what="the webhook call")
        finally:
            await first.close()
        again = _notifier(home, _profile(["halt"]))
        try:
            assert again.ingest(f"bots.{BOT}.audit", record.model_dump_json().encode()) == 0
        finally:
            await again.close()
    (got,) = receiver.received
    assert got.headers[ID_HEADER] == f"{BOT}:4:halt:0"
    verify(SECRET, got.body, got.headers[SIGNATURE_HEADER], now=int(time.time()))


async def test_stops_and_failures_notify_when_asked_for(tmp_path: Path) -> None:
    async with http_receiver() as receiver:
        home = _home(tmp_path, receiver.url)
        notifier = _notifier(home, _profile(["bot_stopped", "bot_failed"]))
        notifier.loop.start()
        try:
            beat = BotHeartbeat(bot_id=BOT, status="stopped", last_seq=12)
            assert notifier.ingest(f"bots.{BOT}.status", beat.model_dump_json().encode()) == 1
            running = BotHeartbeat(bot_id=BOT, status="running", last_seq=12)
            assert notifier.ingest(f"bots.{BOT}.status", running.model_dump_json().encode()) == 0
            assert notifier.bot_exited(str(BOT), "failed", "bad configuration (exit 2)") == 1
            assert notifier.bot_exited(str(BOT), "finished", "exited cleanly") == 0
            await wait_for(lambda: _received(receiver, 2), what="both notifications")
        finally:
            await notifier.close()
    kinds = sorted(b'"bot_failed"' in r.body for r in receiver.received)
    assert kinds == [False, True]


async def test_a_failing_target_is_retried_and_its_error_kept(tmp_path: Path) -> None:
    async with http_receiver(statuses=[503]) as receiver:
        home = _home(tmp_path, receiver.url)
        notifier = _notifier(home, _profile(["halt"]))
        notifier.loop.start()
        try:
            notifier.ingest(f"bots.{BOT}.audit", audit_record(BOT, 1, events=HALT).model_dump_json().encode())

            async def sent() -> bool:
                return [r["status"] for r in notifier.ledger.rows()] == ["sent"]

            await wait_for(sent, what="the retry to succeed")
            (row,) = notifier.ledger.rows()
        finally:
            await notifier.close()
    assert row["attempts"] == 2 and "HTTP 503" in row["last_error"]
    assert len(receiver.received) == 2


async def test_a_bot_that_asks_for_nothing_queues_nothing(tmp_path: Path) -> None:
    home = _home(tmp_path, "http://127.0.0.1:9/")
    notifier = _notifier(home, _profile([]))
    try:
        assert notifier.ingest(f"bots.{BOT}.audit", audit_record(BOT, 1, events=HALT).model_dump_json().encode()) == 0
        assert notifier.ingest(f"bots.{uuid.uuid4()}.audit", b"{}") == 0
    finally:
        await notifier.close()
