"""Local notifications: the agent tells you about the bots it runs, as the cloud does for hosted ones.

Channels are configured on this computer, in ``HOME/config/notify.yaml`` (0600: it holds
secrets, and the agent refuses a file others can read)::

    channels:
      - id: 6f1c...            # optional; the bot's step 6 names it (default: derived from the label)
        label: Ops hook
        kind: webhook
        url: https://hooks.example.com/trading
        signing_secret: whsec_...   # yours: the receiver verifies X-HMMTrade-Signature with it
      - label: Phone
        kind: telegram
        chat_id: "-1001234567"
        bot_token: "123456:AAE..."
      - label: Me
        kind: email
        to: me@example.com
    smtp: {host: smtp.example.com, port: 587, username: me, password: ..., sender: "Bots <me@example.com>"}
    telegram_api: https://api.telegram.org   # optional

The same derivation (``notify.derive``, ``notify.daily``) and delivery loop
(``notify.delivery``) as the hosted notifier, over a SQLite ledger in
``HOME/state/notify.sqlite3`` keyed by (notification id, channel id): a record seen twice,
or again after an agent restart, is queued once. Sources: the bots' audit records and
status on the local bus (a ``stopped`` heartbeat), and the supervisor's word when a bot
crashes or fails. Nothing here can hold up a bot: the bots never wait for the agent.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from agent.home import AgentHome
from contracts.events import AuditRecord, BotHeartbeat
from contracts.notify import Notification, NotifySettings
from contracts.profile import BotProfile
from events.bus import connect
from notify.daily import DayTally, tally
from notify.delivery import ChannelGone, DeliveryLoop, Due
from notify.derive import from_audit, notification_id
from notify.dispatch import Dispatcher
from notify.email import EmailTarget, SmtpSettings
from notify.port import Channel, EmailChannel, TelegramChannel, WebhookChannel
from notify.telegram import TELEGRAM_API, TelegramTarget
from notify.webhook import WebhookTarget

log = structlog.get_logger(__name__)

_LABEL_NS = uuid.UUID("5d0c7a52-9f3e-4b8e-a1c4-2b7f0e6d9a10")
LEASE_S = 60.0


class NotifyConfigError(Exception):
    """``notify.yaml`` is unreadable, readable by others, or invalid; the message says which and how to fix it."""


@dataclass(frozen=True)
class LocalChannel:
    label: str
    kind: str
    target: str
    channel: Channel


@dataclass(frozen=True)
class LocalConfig:
    channels: dict[uuid.UUID, LocalChannel]
    smtp: SmtpSettings | None = None
    telegram_api: str = TELEGRAM_API


def config_path(home: AgentHome) -> Path:
    return home.root / "config" / "notify.yaml"


def load_config(path: Path) -> LocalConfig:
    """The agent's channels; an absent file is no channels."""
    if not path.exists():
        return LocalConfig(channels={})
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotifyConfigError(f"{path} holds secrets but others can read it: run `chmod 600 {path}`")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        channels: dict[uuid.UUID, LocalChannel] = {}
        for index, item in enumerate(raw.get("channels") or []):
            label = str(item["label"])
            channel_id = uuid.UUID(str(item["id"])) if item.get("id") else uuid.uuid5(_LABEL_NS, label)
            kind = item["kind"]
            if kind == "webhook":
                channel: Channel = WebhookChannel(channel_id, str(item["url"]), str(item["signing_secret"]))
                target = httpx.URL(str(item["url"])).host
            elif kind == "telegram":
                channel = TelegramChannel(channel_id, str(item["chat_id"]), str(item["bot_token"]))
                target = str(item["chat_id"])
            elif kind == "email":
                channel = EmailChannel(channel_id, str(item["to"]))
                target = str(item["to"])
            else:
                raise NotifyConfigError(
                    f"{path}: channel {index + 1} has kind {kind!r}: use webhook, telegram or email"
                )
            channels[channel_id] = LocalChannel(label, kind, target, channel)
        smtp = SmtpSettings(**raw["smtp"]) if raw.get("smtp") else None
        return LocalConfig(channels, smtp, str(raw.get("telegram_api") or TELEGRAM_API))
    except NotifyConfigError:
        raise
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotifyConfigError(f"{path} is not a valid notification config ({type(exc).__name__}: {exc})") from None


def channel_list(config: LocalConfig) -> list[dict[str, Any]]:
    """The channels as the wizard's picker takes them (``ui.wizard_steps.notify_choices``); no secrets."""
    return [
        {"id": str(cid), "label": c.label, "kind": c.kind, "target": c.target} for cid, c in config.channels.items()
    ]


class SqliteLedger:
    """The delivery ledger and day tallies of one agent home (one agent per home: no locking needed)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._clock = clock
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS deliveries (
                notification_id TEXT NOT NULL, channel_id TEXT NOT NULL, payload TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
                next_attempt_at REAL NOT NULL, lease_until REAL, PRIMARY KEY (notification_id, channel_id));
            CREATE TABLE IF NOT EXISTS tallies (bot_id TEXT PRIMARY KEY, tally TEXT NOT NULL);
            """
        )

    def close(self) -> None:
        self._db.close()

    def enqueue(self, note: Notification, channel_ids: Sequence[uuid.UUID]) -> int:
        before = self._db.total_changes
        self._db.executemany(
            "INSERT OR IGNORE INTO deliveries (notification_id, channel_id, payload, next_attempt_at)"
            " VALUES (?, ?, ?, ?)",
            [(note.id, str(c), note.model_dump_json(), self._clock()) for c in channel_ids],
        )
        return self._db.total_changes - before

    def rows(self) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT notification_id, channel_id, status, attempts, last_error FROM deliveries")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    async def claim_due(self, limit: int) -> Sequence[Due]:
        now = self._clock()
        found = self._db.execute(
            "SELECT notification_id, channel_id, payload, attempts FROM deliveries WHERE status = 'pending'"
            " AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?",
            (now, now, limit),
        ).fetchall()
        self._db.executemany(
            "UPDATE deliveries SET lease_until = ? WHERE notification_id = ? AND channel_id = ?",
            [(now + LEASE_S, nid, cid) for nid, cid, _, _ in found],
        )
        return [Due(Notification.model_validate_json(p), uuid.UUID(cid), None, n) for _, cid, p, n in found]

    async def mark_sent(self, notification_id: str, channel_id: uuid.UUID) -> None:
        self._db.execute(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, lease_until = NULL"
            " WHERE notification_id = ? AND channel_id = ? AND status = 'pending'",
            (notification_id, str(channel_id)),
        )

    async def mark_attempt_failed(
        self, notification_id: str, channel_id: uuid.UUID, *, error: str, retry_in_s: float | None
    ) -> None:
        self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, lease_until = NULL, status = ?,"
            " next_attempt_at = ? WHERE notification_id = ? AND channel_id = ? AND status = 'pending'",
            (
                error[:1_000],
                "failed" if retry_in_s is None else "pending",
                self._clock() + (retry_in_s or 0),
                notification_id,
                str(channel_id),
            ),
        )

    def tally(self, bot_id: uuid.UUID) -> DayTally | None:
        row = self._db.execute("SELECT tally FROM tallies WHERE bot_id = ?", (str(bot_id),)).fetchone()
        if row is None:
            return None
        raw = json.loads(row[0])
        return DayTally(**{**raw, "bot_id": uuid.UUID(raw["bot_id"]), "day": date.fromisoformat(raw["day"])})

    def put_tally(self, day: DayTally) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO tallies (bot_id, tally) VALUES (?, ?)",
            (str(day.bot_id), json.dumps(asdict(day), default=str)),
        )


class LocalNotifications:
    """Derives and delivers notifications for the bots of one agent home."""

    def __init__(
        self,
        home: AgentHome,
        profile_of: Callable[[str], BotProfile | None],
        *,
        config: LocalConfig | None = None,
        client: httpx.AsyncClient | None = None,
        retry_delays_s: Sequence[float] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self._profile_of = profile_of
        try:
            self.config = config if config is not None else load_config(config_path(home))
        except NotifyConfigError as exc:
            log.error("notify.config_refused", error=str(exc))  # the agent runs on, without notifications
            self.config = LocalConfig(channels={})
        self.ledger = SqliteLedger(home.state_root / "notify.sqlite3")
        self._client = client or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        dispatcher = Dispatcher(
            WebhookTarget(self._client),
            TelegramTarget(self._client, api_base=self.config.telegram_api),
            EmailTarget(self.config.smtp) if self.config.smtp is not None else None,
        )
        extra: dict[str, Any] = {"retry_delays_s": retry_delays_s} if retry_delays_s is not None else {}
        self.loop = DeliveryLoop(self.ledger, self._open, dispatcher, poll_s=poll_s, **extra)
        self._nc: NatsClient | None = None

    async def start(self, url: str, *, creds: Path | None = None) -> None:
        self.loop.start()
        if not self.config.channels:
            return  # nothing to deliver to: don't even listen
        self._nc = await connect(url, name="hmmtrade-agent-notify", creds=creds)
        for what in ("audit", "status"):
            await self._nc.subscribe(f"bots.*.{what}", cb=self._on_msg)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        await self.loop.stop()
        await self._client.aclose()
        self.ledger.close()

    async def _open(self, due: Due) -> Channel:
        found = self.config.channels.get(due.channel_id)
        if found is None:
            raise ChannelGone("the channel is no longer in notify.yaml")
        return found.channel

    async def _on_msg(self, msg: Msg) -> None:
        self.ingest(msg.subject, msg.data)

    def ingest(self, subject: str, data: bytes) -> int:
        """Queue what one bus message is worth; returns how many deliveries were queued."""
        parts = subject.split(".")
        if len(parts) != 3 or parts[0] != "bots":
            return 0
        profile = self._profile_of(parts[1])
        if profile is None:
            return 0
        wanted = profile.schedule.notify
        if not wanted.events or not wanted.channels:
            return 0
        try:
            if parts[2] == "audit":
                notes = self._from_audit(AuditRecord.model_validate_json(data), profile, wanted)
            elif parts[2] == "status":
                notes = self._from_status(BotHeartbeat.model_validate_json(data), profile)
            else:
                return 0
        except ValidationError:
            return 0  # the live feed counts malformed messages; nothing to tell anyone
        return self._queue(notes, wanted)

    def bot_exited(self, bot_id: str, state: str, reason: str) -> int:
        """The supervisor's word: a bot crashed (restarting) or failed for good."""
        profile = self._profile_of(bot_id)
        if profile is None or state not in ("failed", "backoff"):
            return 0
        bot = uuid.UUID(bot_id)
        note = Notification(
            id=notification_id(bot, f"exit-{uuid.uuid4().hex[:12]}", "bot_failed"),
            kind="bot_failed",
            bot_id=bot,
            bot_name=profile.basics.name,
            occurred_at=datetime.now(UTC),
            title=f"{profile.basics.name} {'failed' if state == 'failed' else 'crashed'}",
            text=f"{profile.basics.name}: {reason}",
            facts={"state": state, "reason": reason},
        )
        return self._queue([note], profile.schedule.notify)

    def _from_audit(self, record: AuditRecord, profile: BotProfile, wanted: NotifySettings) -> list[Notification]:
        notes = from_audit(record, bot_name=profile.basics.name)
        if "daily_summary" in wanted.events:
            before = self.ledger.tally(record.bot_id)
            after, summary = tally(before, record, bot_name=profile.basics.name)
            if after != before:
                self.ledger.put_tally(after)
            if summary is not None:
                notes.append(summary)
        return notes

    def _from_status(self, beat: BotHeartbeat, profile: BotProfile) -> list[Notification]:
        if beat.status != "stopped":
            return []
        name = profile.basics.name
        return [
            Notification(
                id=notification_id(beat.bot_id, f"status-{beat.last_seq}", "bot_stopped"),
                kind="bot_stopped",
                bot_id=beat.bot_id,
                bot_name=name,
                occurred_at=beat.occurred_at,
                title=f"{name} stopped",
                text=f"{name} stopped after decision {beat.last_seq}.",
                facts={"last_seq": beat.last_seq},
            )
        ]

    def _queue(self, notes: list[Notification], wanted: NotifySettings) -> int:
        channels = [c for c in wanted.channels if c in self.config.channels]
        queued = sum(self.ledger.enqueue(n, channels) for n in notes if n.kind in wanted.events)
        if queued:
            self.loop.wake()
        return queued
