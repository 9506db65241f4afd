"""The live feed: what running bots report on the bus, kept in memory for the dashboard.

The agent subscribes to ``bots.*.tick``, ``bots.*.audit`` and ``bots.*.status``; each bot
keeps a bounded history. Listeners (one per open browser session) are told which bot
changed, so pages push updates as messages arrive instead of polling.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts.events import AuditRecord, BotHeartbeat, Tick
from events.bus import connect

log = structlog.get_logger(__name__)

HISTORY = 5_000
STALE_AFTER_S = 20.0  # a few missed heartbeats (the runner sends one every few seconds)

Listener = Callable[[str, str], None]


@dataclass
class BotLive:
    ticks: deque[Tick] = field(default_factory=lambda: deque(maxlen=HISTORY))
    audit: deque[AuditRecord] = field(default_factory=lambda: deque(maxlen=HISTORY))
    heartbeat: BotHeartbeat | None = None
    heartbeat_at: float | None = None
    last_tick_seq: int = 0
    last_audit_seq: int = 0


class LiveFeed:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, history: int = HISTORY) -> None:
        self._clock = clock
        self._history = history
        self.bots: dict[str, BotLive] = {}
        self.rejected = 0
        self._listeners: set[Listener] = set()
        self._nc: NatsClient | None = None

    async def start(self, url: str, *, creds: Path | None = None) -> None:
        self._nc = await connect(url, name="hmmtrade-agent-live", creds=creds)
        for what in ("tick", "audit", "status"):
            await self._nc.subscribe(f"bots.*.{what}", cb=self._on_msg)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def bot(self, bot_id: str) -> BotLive:
        live = self.bots.get(bot_id)
        if live is None:
            live = self.bots[bot_id] = BotLive(ticks=deque(maxlen=self._history), audit=deque(maxlen=self._history))
        return live

    async def _on_msg(self, msg: Msg) -> None:
        self.ingest(msg.subject, msg.data)

    def ingest(self, subject: str, data: bytes) -> None:
        """Store one bus message; a malformed one is counted and dropped, never fatal."""
        parts = subject.split(".")
        if len(parts) != 3 or parts[0] != "bots":
            return
        bot_id, what = parts[1], parts[2]
        try:
            if what == "tick":
                tick = Tick.model_validate_json(data)
                live = self.bot(bot_id)
                if tick.seq <= live.last_tick_seq:
                    return  # a re-publish after a restart: already shown
                live.ticks.append(tick)
                live.last_tick_seq = tick.seq
            elif what == "audit":
                record = AuditRecord.model_validate_json(data)
                live = self.bot(bot_id)
                if record.seq <= live.last_audit_seq:
                    return
                live.audit.append(record)
                live.last_audit_seq = record.seq
            elif what == "status":
                beat = BotHeartbeat.model_validate_json(data)
                live = self.bot(bot_id)
                live.heartbeat, live.heartbeat_at = beat, self._clock()
            else:
                return
        except ValidationError as exc:
            self.rejected += 1
            log.warning("live.bad_message", subject=subject, error=exc.errors()[0]["msg"])
            return
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a closed browser session must not break the feed
                listener(bot_id, what)

    def last_status(self, bot_id: str) -> str | None:
        live = self.bots.get(bot_id)
        return live.heartbeat.status if live and live.heartbeat else None

    def health(self, bot_id: str) -> str:
        """``healthy``, ``stale`` (heartbeats stopped) or ``no heartbeat`` yet."""
        live = self.bots.get(bot_id)
        if live is None or live.heartbeat_at is None:
            return "no heartbeat"
        return "healthy" if self._clock() - live.heartbeat_at <= STALE_AFTER_S else "stale"
