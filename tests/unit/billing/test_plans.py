"""Plans and the tier a user's subscriptions give them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing.plans import PAST_DUE_GRACE, PLANS, check_create, check_hosted
from billing.tiers import grace_ends_at, state_of, tier_from

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sub:
    plan: str
    state: str
    past_due_since: datetime | None = None
    grace_expired_at: datetime | None = None


def test_free_is_local_only_with_a_bot_limit_and_paid_plans_add_hosted_bots() -> None:
    assert not PLANS["free"].hosted_allowed and PLANS["free"].max_bots == 3
    assert PLANS["pro"].max_hosted_bots < PLANS["team"].max_hosted_bots
    assert all(PLANS[p].max_hosted_bots <= PLANS[p].max_bots for p in PLANS)


def test_create_checks_name_the_plan_and_the_limit() -> None:
    hosted_on_free = check_create("free", "hosted", bots=0, hosted_bots=0)
    assert hosted_on_free is not None and hosted_on_free.plan == "free" and "pro or team" in hosted_on_free.message
    assert check_create("free", "local", bots=2, hosted_bots=0) is None
    full = check_create("free", "local", bots=3, hosted_bots=0)
    assert full is not None and full.limit == "max_bots" and "upgrade to pro" in full.message
    assert check_create("pro", "hosted", bots=2, hosted_bots=2) is None
    hosted_full = check_create("pro", "hosted", bots=3, hosted_bots=3)
    assert hosted_full is not None and hosted_full.allowed == 3 and "team" in hosted_full.message
    team_full = check_create("team", "local", bots=50, hosted_bots=0)
    assert team_full is not None and "upgrade" not in team_full.message  # nothing bigger to offer
    assert check_hosted("team") is None and check_hosted("bogus") is not None  # an unknown tier is free


def test_stripe_statuses_map_to_our_states() -> None:
    assert [state_of(s) for s in ("active", "trialing", "past_due", "unpaid", "canceled", "incomplete")] == [
        "active",
        "active",
        "past_due",
        "past_due",
        "canceled",
        None,
    ]


def test_the_tier_is_the_best_plan_in_force_and_past_due_holds_only_through_the_grace_period() -> None:
    assert tier_from([], NOW) == "free"
    assert tier_from([Sub("pro", "active"), Sub("team", "canceled")], NOW) == "pro"
    assert tier_from([Sub("pro", "active"), Sub("team", "active")], NOW) == "team"
    due = Sub("team", "past_due", past_due_since=NOW - PAST_DUE_GRACE + timedelta(minutes=1))
    assert tier_from([due], NOW) == "team" and grace_ends_at(due) == NOW + timedelta(minutes=1)
    assert tier_from([due], NOW + timedelta(minutes=1)) == "free"
    ended = Sub("team", "past_due", past_due_since=NOW, grace_expired_at=NOW)
    assert tier_from([ended], NOW) == "free"
