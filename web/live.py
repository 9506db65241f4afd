"""Per-user live fan-out: one bus connection for the whole web app, bots' messages handed only to
the pages that proved their user owns the bot.

The web app connects with its own least-privilege identity (the ``dashboard`` role: it may
subscribe to bots' outputs and workers' events and publish nothing). Browsers never touch the
bus: a page registers ``watch(bot_id, …)`` after the API confirmed the bot is its user's
(``GET /api/v1/bots/{id}`` answered 200), and receives only that bot's messages. Nothing a
browser sends can name another bot: the id comes from the server-side check, not a widget.

Bots' output is less trusted than ours: each message is parsed by its contract, its ``bot_id``
must match the subject's (a bot may only publish under its own id, but a lenient parse is no
defence), and a malformed one is counted and dropped. Recent log lines are kept per bot so a
page opened later shows the tail.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from pydantic import BaseModel, ValidationError

from contracts.events import AuditRecord, BotHeartbeat, BotLogLine, Tick
from events.bus import connect

log = structlog.get_logger(__name__)

LOG_TAIL = 300
MAX_TRACKED_BOTS = 10_000

Listener = Callable[[str, Any], None]
"""Called with (kind, message): kind is tick, audit, status, log, or event (message: (what, dict))."""

_MODELS: dict[str, type[BaseModel]] = {"tick": Tick, "audit": AuditRecord, "status": BotHeartbeat, "log": BotLogLine}


class LiveHub:
    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._logs: OrderedDict[str, deque[BotLogLine]] = OrderedDict()
        self._last_tick: OrderedDict[str, Tick] = OrderedDict()
        self._nc: NatsClient | None = None
        self.rejected = 0
        self.delivered = 0

    # ---- connection -------------------------------------------------------------------
    async def start(self, url: str, *, creds: str | Path | None = None, ca_file: str | Path | None = None) -> None:
        """Connect and subscribe; a bus that is down at start is retried every second (the pages
        say "reconnecting" meanwhile), after which nats-py reconnects by itself."""
        while True:
            try:
                nc = await connect(url, name="hmmtrade-web", creds=creds, ca_file=ca_file)
                break
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("web.bus_unreachable", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(1.0)
        for what in _MODELS:
            await nc.subscribe(f"bots.*.{what}", cb=self._on_msg)
        await nc.subscribe("events.bot.>", cb=self._on_msg)
        self._nc = nc

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    @property
    def connected(self) -> bool:
        """Whether the bus answers now (pages poll it to say "reconnecting"; nats-py reconnects by itself)."""
        return self._nc is not None and self._nc.is_connected

    # ---- fan-out ------------------------------------------------------------------------
    def watch(self, bot_id: str, listener: Listener) -> Callable[[], None]:
        """Hand ``bot_id``'s messages to ``listener`` until the returned function is called.

        Call it only for a bot whose ownership the API confirmed for the page's user."""
        self._listeners.setdefault(bot_id, set()).add(listener)

        def stop() -> None:
            listeners = self._listeners.get(bot_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[bot_id]

        return stop

    def log_tail(self, bot_id: str) -> list[BotLogLine]:
        return list(self._logs.get(bot_id, ()))

    async def _on_msg(self, msg: Msg) -> None:
        self.ingest(msg.subject, msg.data)

    def ingest(self, subject: str, data: bytes) -> None:
        parts = subject.split(".")
        if parts[0] == "events" and len(parts) == 4:
            bot_id, kind = parts[2], "event"
            try:
                message: Any = (parts[3], _json_object(data))
            except ValueError:
                self._reject(subject, "not a JSON object")
                return
        elif parts[0] == "bots" and len(parts) == 3 and parts[2] in _MODELS:
            bot_id, kind = parts[1], parts[2]
            try:
                message = _MODELS[kind].model_validate_json(data)
            except ValidationError as exc:
                self._reject(subject, exc.errors()[0]["msg"])
                return
            if str(message.bot_id) != bot_id:
                self._reject(subject, "bot_id differs from the subject's")
                return
            if kind == "log":
                self._remember_log(bot_id, message)
            elif kind == "tick":
                self._remember_tick(bot_id, message)
        else:
            return
        for listener in list(self._listeners.get(bot_id, ())):
            try:
                listener(kind, message)
                self.delivered += 1
            except Exception:
                log.debug("web.listener_failed", bot_id=bot_id, exc_info=True)

    def last_tick(self, bot_id: str) -> Tick | None:
        """The newest tick seen from ``bot_id`` since this process started (for lists opened later)."""
        return self._last_tick.get(bot_id)

    def _remember_tick(self, bot_id: str, tick: Tick) -> None:
        last = self._last_tick.get(bot_id)
        if last is None or tick.seq >= last.seq:
            self._last_tick[bot_id] = tick
            self._last_tick.move_to_end(bot_id)
            while len(self._last_tick) > MAX_TRACKED_BOTS:
                self._last_tick.popitem(last=False)

    def _remember_log(self, bot_id: str, line: BotLogLine) -> None:
        tail = self._logs.get(bot_id)
        if tail is None:
            tail = self._logs[bot_id] = deque(maxlen=LOG_TAIL)
            while len(self._logs) > MAX_TRACKED_BOTS:
                self._logs.popitem(last=False)
        self._logs.move_to_end(bot_id)
        tail.append(line)

    def _reject(self, subject: str, why: str) -> None:
        self.rejected += 1
        log.warning("web.bad_message", subject=subject, error=why)


def _json_object(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value
