"""Who an incident affected and for how long, from downtime intervals: exact at the window's edges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from incidents.affected import BotDowntime, credits_due, downtime_in_window
from store.downtime import DownInterval

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
ALICE, BOB, CAROL = (uuid.UUID(int=n) for n in (1, 2, 3))
BOT_A, BOT_B, BOT_C = (uuid.UUID(int=n) for n in (11, 12, 13))


def down(user: uuid.UUID, bot: uuid.UUID, start: datetime, end: datetime | None, name: str = "bot") -> DownInterval:
    return DownInterval(bot_id=bot, user_id=user, bot_name=name, cause="launch", started_at=start, ended_at=end)


def test_downtime_is_clipped_to_the_incident_window() -> None:
    window = (T0, T0 + 4 * H)
    intervals = [
        down(ALICE, BOT_A, T0 - H, T0 + H),  # began before the incident: 1 h inside
        down(BOB, BOT_B, T0 + 3 * H, T0 + 6 * H),  # ended after it: 1 h inside
        down(CAROL, BOT_C, T0 + H, None),  # still down at the end: 3 h inside
    ]
    assert downtime_in_window(intervals, *window) == [
        BotDowntime(ALICE, BOT_A, "bot", 3600),
        BotDowntime(BOB, BOT_B, "bot", 3600),
        BotDowntime(CAROL, BOT_C, "bot", 3 * 3600),
    ]


def test_intervals_that_only_touch_the_window_count_nothing() -> None:
    intervals = [down(ALICE, BOT_A, T0 - H, T0), down(BOB, BOT_B, T0 + 2 * H, T0 + 3 * H)]
    assert downtime_in_window(intervals, T0, T0 + 2 * H) == []


def test_several_intervals_of_one_bot_add_up() -> None:
    intervals = [down(ALICE, BOT_A, T0, T0 + H), down(ALICE, BOT_A, T0 + 2 * H, T0 + 2 * H + timedelta(seconds=90))]
    assert downtime_in_window(intervals, T0, T0 + 5 * H) == [BotDowntime(ALICE, BOT_A, "bot", 3600 + 90)]


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before"):
        downtime_in_window([], T0, T0 - H)


def test_free_users_get_no_credit_and_paid_users_get_the_rule() -> None:
    incident = uuid.uuid4()
    bots = [
        BotDowntime(ALICE, BOT_A, "a", 3 * 3600),  # pro: 2.5 h credited
        BotDowntime(ALICE, BOT_B, "b", 20 * 60),  # pro: within the grace period
        BotDowntime(BOB, BOT_C, "c", 5 * 3600),  # free: nothing
        BotDowntime(CAROL, uuid.uuid4(), "d", 10 * 60),  # team: within grace, none due
    ]
    plans = {ALICE: "pro", BOB: "free", CAROL: "team"}
    due = {c.user_id: c for c in credits_due(incident, bots, plans=plans, customers={ALICE, CAROL})}
    assert set(due) == {ALICE, CAROL}
    alice = due[ALICE]
    assert (alice.plan, alice.bot_seconds, alice.credited_seconds) == ("pro", 3 * 3600 + 20 * 60, int(2.5 * 3600))
    assert (alice.amount_cents, alice.status) == (10, "pending")  # 2900 * 2.5 / 720 = 10.07
    assert [(b.bot_name, b.credited_seconds) for b in alice.bots] == [("a", int(2.5 * 3600)), ("b", 0)]
    assert (due[CAROL].amount_cents, due[CAROL].status) == (0, "none_due")


def test_a_paid_user_without_a_stripe_customer_is_recorded_as_such() -> None:
    [credit] = credits_due(
        uuid.uuid4(), [BotDowntime(ALICE, BOT_A, "a", 5 * 3600)], plans={ALICE: "team"}, customers=[]
    )
    assert (credit.status, credit.amount_cents) == ("no_customer", 62)  # 9900 * 4.5 / 720 = 61.875
