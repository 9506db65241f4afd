"""Intake: bots' audit records and stop/failure events -> rows in the delivery ledger.

Per message, in one transaction: derive the notifications (``notify.derive``, and the daily
summary through the bot's day tally), keep those the bot's profile asks for
(``schedule.notify``), and queue one row per (notification, channel) of the bot's owner.
Then the message is acked. Killed before the ack, the redelivery derives the same ids and
queues nothing new; the tally skips records it has already counted (by ``seq``).

Only hosted bots: the agent notifies for the bots it runs itself. The bot id comes from the
subject and is checked against the database (bot output is less trusted); a channel id in a
profile that is not the owner's own live channel is ignored. A message that does not parse is
acked and skipped: audit-ingest and hosting read the same messages and dead-letter them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts.events import BotEvent
from contracts.notify import Notification, NotifySettings
from notify.daily import DayTally, tally
from notify.derive import from_audit, from_bot_event
from store import bots, notifications
from store.bots import BotRow
from workers.audit_ingest import parse_audit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IntakeDeps:
    pool: asyncpg.Pool
    on_queued: Callable[[], None]  # wakes the delivery loop


def notify_settings(profile: dict[str, Any]) -> NotifySettings:
    """The profile's step-6 choice; a profile from before notifications (or unreadable) asks for none."""
    raw = profile.get("schedule", {}).get("notify") if isinstance(profile.get("schedule"), dict) else None
    try:
        return NotifySettings.model_validate(raw or {})
    except ValidationError:
        return NotifySettings()


async def _queue(conn: Any, bot: BotRow, wanted: NotifySettings, notes: list[Notification]) -> int:
    notes = [n for n in notes if n.kind in wanted.events]
    if not notes:
        return 0
    channels = await notifications.channels_of(conn, bot.user_id, wanted.channels)
    ids = [c.id for c in channels]
    queued = 0
    for note in notes:
        queued += await notifications.enqueue(conn, note, user_id=bot.user_id, channel_ids=ids)
    return queued


async def _hosted_bot(conn: Any, bot_id: Any) -> BotRow | None:
    bot = await bots.get_bot(conn, bot_id)
    if bot is None or bot.deleted_at is not None or bot.surface != "hosted":
        return None
    return bot


async def handle_audit(msg: Msg, deps: IntakeDeps) -> None:
    try:
        record = parse_audit(msg)
    except ValueError as exc:
        # audit-ingest reads the same message and dead-letters it with this reason: once is enough
        log.debug("notify.unusable_audit", subject=msg.subject, error=str(exc))
        return
    structlog.contextvars.bind_contextvars(bot_id=str(record.bot_id), seq=record.seq)
    async with deps.pool.acquire() as conn, conn.transaction():
        bot = await _hosted_bot(conn, record.bot_id)
        if bot is None:
            return
        wanted = notify_settings(bot.profile)
        if not wanted.events or not wanted.channels:
            return
        notes = from_audit(record, bot_name=bot.name)
        if "daily_summary" in wanted.events:
            row = await notifications.lock_tally(conn, bot.id)
            before = DayTally(**asdict(row)) if row is not None else None
            after, summary = tally(before, record, bot_name=bot.name)
            if after != before:
                await notifications.put_tally(conn, notifications.TallyRow(**asdict(after)))
            if summary is not None:
                notes.append(summary)
        queued = await _queue(conn, bot, wanted, notes)
    if queued:
        log.info("notify.queued", queued=queued, kinds=sorted({n.kind for n in notes}))
        deps.on_queued()


NOTIFYING_EVENTS = ("stopped", "failed")


async def handle_bot_event(msg: Msg, deps: IntakeDeps) -> None:
    if msg.subject.rsplit(".", 1)[-1] not in NOTIFYING_EVENTS:
        return  # the stream's other bot events (created, started, booted...) notify nobody
    try:
        event = BotEvent.model_validate_json(msg.data)
    except ValidationError as exc:  # the hosting consumer (where Fly is set up) dead-letters it
        log.debug("notify.unusable_bot_event", subject=msg.subject, error=str(exc.errors()[:1]))
        return
    notes = from_bot_event(event)
    if not notes:
        return
    structlog.contextvars.bind_contextvars(bot_id=str(event.bot_id))
    async with deps.pool.acquire() as conn, conn.transaction():
        bot = await _hosted_bot(conn, event.bot_id)
        if bot is None or bot.user_id != event.user_id:
            return
        notes = from_bot_event(event, bot_name=bot.name)
        queued = await _queue(conn, bot, notify_settings(bot.profile), notes)
    if queued:
        log.info("notify.queued", queued=queued, kinds=[n.kind for n in notes])
        deps.on_queued()
