"""Who an incident affected, and for how long: pure functions over the downtime intervals."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from incidents import terms
from store.credits import CreditedBotRow, CreditRow
from store.downtime import DownInterval


@dataclass(frozen=True)
class BotDowntime:
    user_id: uuid.UUID
    bot_id: uuid.UUID
    bot_name: str
    down_seconds: int


def downtime_in_window(intervals: Iterable[DownInterval], start: datetime, end: datetime) -> list[BotDowntime]:
    """Each bot's downtime inside [``start``, ``end``] in whole seconds (an interval still open
    lasts until ``end``); bots with none are left out. Ordered by user, then bot."""
    if end < start:
        raise ValueError("the window ends before it starts")
    totals: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, float]] = {}
    for interval in intervals:
        overlap = (min(end, interval.ended_at or end) - max(start, interval.started_at)).total_seconds()
        if overlap <= 0:
            continue
        key = (interval.user_id, interval.bot_id)
        _, seconds = totals.get(key, (interval.bot_name, 0.0))
        totals[key] = (interval.bot_name, seconds + overlap)
    return [
        BotDowntime(user_id=user_id, bot_id=bot_id, bot_name=name, down_seconds=int(seconds))
        for (user_id, bot_id), (name, seconds) in sorted(
            totals.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))
        )
        if int(seconds) > 0
    ]


def credits_due(
    incident_id: uuid.UUID,
    downtime: Iterable[BotDowntime],
    *,
    plans: Mapping[uuid.UUID, str],
    customers: Collection[uuid.UUID],
) -> list[CreditRow]:
    """One credit per paid customer with downtime (free plans: none), per ``incidents.terms``."""
    by_user: dict[uuid.UUID, list[BotDowntime]] = {}
    for bot in downtime:
        by_user.setdefault(bot.user_id, []).append(bot)
    credits: list[CreditRow] = []
    for user_id, bots in by_user.items():
        plan = plans.get(user_id, "free")
        if plan not in ("pro", "team"):
            continue
        lines = [
            CreditedBotRow(
                bot_id=b.bot_id,
                bot_name=b.bot_name,
                down_seconds=b.down_seconds,
                credited_seconds=terms.credited_seconds(b.down_seconds),
            )
            for b in bots
        ]
        credited = sum(line.credited_seconds for line in lines)
        amount = terms.credit_cents(plan, credited)  # type: ignore[arg-type]  # checked just above
        status = "none_due" if amount == 0 else "pending" if user_id in customers else "no_customer"
        credits.append(
            CreditRow(
                incident_id=incident_id,
                user_id=user_id,
                plan=plan,
                bot_seconds=sum(line.down_seconds for line in lines),
                credited_seconds=credited,
                amount_cents=amount,
                currency=terms.CURRENCY,
                status=status,
                bots=lines,
            )
        )
    return credits
