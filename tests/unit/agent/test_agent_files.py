"""Instance files, the login cache and the live feed's bookkeeping."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime

import pytest

from agent.home import AgentHome
from agent.instances import InstanceError, list_instances, read_instance, write_env, write_instance
from agent.live import LiveFeed
from agent.tokens import CachedLogin, TokenStore
from contracts.events import BotHeartbeat, Tick
from contracts.profile import BotProfile
from tests.conftest import VALID_PROFILE


def test_instance_files_round_trip_and_broker_keys_are_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = AgentHome.at(tmp_path)
    profile = BotProfile.model_validate(VALID_PROFILE)
    instance = write_instance(home, profile, env={"BROKER_API_KEY": "k-123", "BROKER_API_SECRET": "s-456"})
    assert read_instance(instance.path).profile == profile
    env_path = home.env_path(instance.bot_id)
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    assert "k-123" not in instance.path.read_text(), "keys live only in the .env"


def test_bad_env_keys_and_multiline_values_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InstanceError, match="not an environment variable name"):
        write_env(tmp_path / "x.env", {"bad key": "v"})
    with pytest.raises(InstanceError, match="spans several lines"):
        write_env(tmp_path / "x.env", {"KEY": "a\nB=c"})


def test_a_broken_instance_file_is_reported_not_fatal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = AgentHome.at(tmp_path)
    write_instance(home, BotProfile.model_validate(VALID_PROFILE))
    (home.instances_dir / f"{uuid.uuid4()}.yaml").write_text("bot_id: nope\nprofile: {}\n")
    good, errors = list_instances(home)
    assert len(good) == 1 and len(errors) == 1 and "bot_id" in errors[0]


def test_the_login_cache_is_0600_and_never_prints_tokens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = TokenStore(tmp_path / "cfg")
    login = CachedLogin(
        "http://api", "me@example.com", "access-secret", "refresh-secret", datetime.now(UTC).isoformat()
    )
    store.save(login)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load() == login
    assert "secret" not in repr(login)


def test_the_live_feed_drops_replays_and_counts_bad_messages() -> None:
    now = [100.0]
    feed = LiveFeed(clock=lambda: now[0])
    bot = str(uuid.uuid4())
    heard: list[tuple[str, str]] = []
    feed.subscribe(lambda b, kind: heard.append((b, kind)))
    tick = Tick(bot_id=uuid.UUID(bot), seq=1, bar_at=datetime(2008, 9, 15, tzinfo=UTC), close=1200.0, regime=0)
    feed.ingest(f"bots.{bot}.tick", tick.model_dump_json().encode())
    feed.ingest(f"bots.{bot}.tick", tick.model_dump_json().encode())  # re-published after a restart
    feed.ingest(f"bots.{bot}.tick", b"{not json")
    assert len(feed.bot(bot).ticks) == 1 and feed.rejected == 1 and heard == [(bot, "tick")]

    assert feed.health(bot) == "no heartbeat"
    beat = BotHeartbeat(bot_id=uuid.UUID(bot), status="running", last_seq=1)
    feed.ingest(f"bots.{bot}.status", beat.model_dump_json().encode())
    assert feed.health(bot) == "healthy"
    now[0] += 60
    assert feed.health(bot) == "stale"
