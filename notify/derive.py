"""From what a bot reports to the notifications it is worth: pure, deterministic functions.

Sources:

- an audit record (``bots.<id>.audit``): ``detail["events"]`` (``regime_change``, ``halt``,
  ``rearm``, written by the trader) and ``detail["executions"]`` entries with status
  ``rejected`` (a live order the venue refused);
- a bot event (``events.bot.<id>.stopped`` / ``.failed``).

Ids are built from what identifies the source (bot id, the record's ``seq``, the event's
place in the record; the bot event's own message id), never from the wall clock, so a
redelivered message yields notifications with the same ids. Daily summaries are in
``notify.daily`` (they need the day's earlier records).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from contracts.events import AuditRecord, BotEvent
from contracts.notify import Notification, NotificationKind
from notify.render import money, regime_name


def notification_id(bot_id: uuid.UUID, source: str, kind: NotificationKind, index: int = 0) -> str:
    """``<bot id>:<source>:<kind>:<index>``; ``source`` is a record seq or a hashed message id."""
    return f"{bot_id}:{source}:{kind}:{index}"


def from_audit(
    record: AuditRecord, *, bot_name: str | None = None, regimes: Sequence[str] | None = None
) -> list[Notification]:
    """The notifications one audit record carries, in the order the trader wrote its events.

    ``regimes`` names the profile's regimes (``ui.regimes.regime_names``) when the caller knows them.
    """
    made: list[Notification] = []
    detail = record.detail
    for index, event in enumerate(_dicts(detail.get("events"))):
        made.extend(_from_trader_event(record, index, event, bot_name, regimes))
    for index, execution in enumerate(_dicts(detail.get("executions"))):
        if execution.get("status") == "rejected":
            made.append(_rejected(record, index, execution, bot_name))
    return made


def from_bot_event(event: BotEvent, *, bot_name: str | None = None) -> list[Notification]:
    """A stop or a failure of the bot; other lifecycle events notify nobody."""
    if event.type not in ("bot.stopped", "bot.failed"):
        return []
    kind: NotificationKind = "bot_stopped" if event.type == "bot.stopped" else "bot_failed"
    source = "event-" + hashlib.sha256(event.id.encode()).hexdigest()[:16]
    reason = event.reason or ("stopped on request" if kind == "bot_stopped" else "no reason given")
    title = f"{_who(event.bot_id, bot_name)} {'stopped' if kind == 'bot_stopped' else 'failed'}"
    return [
        Notification(
            id=notification_id(event.bot_id, source, kind),
            kind=kind,
            bot_id=event.bot_id,
            bot_name=bot_name,
            occurred_at=event.occurred_at,
            title=title,
            text=f"{title}: {reason}",
            facts={"status": event.status, "reason": event.reason},
        )
    ]


def _from_trader_event(
    record: AuditRecord, index: int, event: dict[str, Any], bot_name: str | None, regimes: Sequence[str] | None
) -> list[Notification]:
    kind = event.get("kind")
    who = _who(record.bot_id, bot_name)
    bar = record.bar_at.date().isoformat()
    if kind == "regime_change":
        before, after = event.get("from"), event.get("to")
        moved = f"{regime_name(before, regimes)} -> {regime_name(after, regimes)}"
        model = event.get("model")  # a portfolio names the series whose model changed its mind
        of = f" of {model}" if isinstance(model, str) else ""
        title = f"{who}: {moved}{of}"
        text = f"On the {bar} bar the regime{of} changed: {moved}."
        facts = {"from": before, "to": after, **({"model": model} if of else {})}
    elif kind == "halt":
        reason = str(event.get("reason") or "")
        title = f"{who}: trading halted ({_rule(event.get('rule'))})"
        text = f"Trading halted on the {bar} bar: {reason or 'a risk limit was hit'}."
        facts = {"rule": event.get("rule"), "reason": reason}
    elif kind == "rearm":
        reason = str(event.get("reason") or "")
        title = f"{who}: trading re-armed ({_rule(event.get('rule'))})"
        text = f"Trading resumed on the {bar} bar: {reason or 'the halt condition cleared'}."
        facts = {"rule": event.get("rule"), "reason": reason}
    else:
        return []  # a kind this version does not notify about
    if record.equity is not None:
        text += f"\nEquity: {money(record.equity)}."
    return [
        Notification(
            id=notification_id(record.bot_id, str(record.seq), kind, index),
            kind=kind,
            bot_id=record.bot_id,
            bot_name=bot_name,
            occurred_at=record.occurred_at,
            title=title[:200],
            text=text[:2_000],
            facts={**facts, "seq": record.seq, "bar_at": record.bar_at.isoformat(), "equity": record.equity},
        )
    ]


def _rejected(record: AuditRecord, index: int, execution: dict[str, Any], bot_name: str | None) -> Notification:
    side, quantity, symbol = execution.get("side", "?"), execution.get("quantity", "?"), execution.get("symbol", "?")
    reason = str(execution.get("reason") or "no reason given")
    title = f"{_who(record.bot_id, bot_name)}: order rejected ({side} {quantity} {symbol})"
    return Notification(
        id=notification_id(record.bot_id, str(record.seq), "order_rejected", index),
        kind="order_rejected",
        bot_id=record.bot_id,
        bot_name=bot_name,
        occurred_at=record.occurred_at,
        title=title[:200],
        text=f"The venue rejected the order {execution.get('client_order_id', '')}: {reason}"[:2_000],
        facts={
            "seq": record.seq,
            "client_order_id": execution.get("client_order_id"),
            "symbol": symbol,
            "side": side,
            "quantity": quantity,
            "reason": reason,
        },
    )


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    """The dict entries of a list field, tolerating a record without it (older traders)."""
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def _who(bot_id: uuid.UUID, bot_name: str | None) -> str:
    return bot_name or f"Bot {str(bot_id)[:8]}"


_RULES = {
    "drawdown": "drawdown limit",
    "daily_loss": "daily loss limit",
    "calm": "market calmed",
    "new_high": "new equity high",
    "manual": "by hand",
    "next_day": "new day",
}


def _rule(rule: Any) -> str:
    return _RULES.get(str(rule), str(rule))
