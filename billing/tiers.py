"""From Stripe subscription states to the plan in force (pure functions, time as a parameter)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal, Protocol

from billing.plans import PAST_DUE_GRACE, PlanName, best_of

BillingState = Literal["active", "past_due", "canceled"]

_STATES: dict[str, BillingState] = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
    "paused": "canceled",
}


def state_of(stripe_status: str) -> BillingState | None:
    """Our state for a Stripe status; ``None`` while the first payment is still ``incomplete``."""
    return _STATES.get(stripe_status)


class SubscriptionLike(Protocol):
    @property
    def plan(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def past_due_since(self) -> datetime | None: ...
    @property
    def grace_expired_at(self) -> datetime | None: ...


def grace_ends_at(sub: SubscriptionLike, grace: timedelta = PAST_DUE_GRACE) -> datetime | None:
    if sub.state != "past_due" or sub.past_due_since is None:
        return None
    return sub.past_due_since + grace


def in_force(sub: SubscriptionLike, now: datetime, grace: timedelta = PAST_DUE_GRACE) -> bool:
    """Does ``sub`` still grant its plan at ``now``? Active, or past due within the grace period."""
    if sub.state == "active":
        return True
    ends = grace_ends_at(sub, grace)
    return ends is not None and sub.grace_expired_at is None and now < ends


def tier_from(subs: Iterable[SubscriptionLike], now: datetime, grace: timedelta = PAST_DUE_GRACE) -> PlanName:
    """The best plan among the subscriptions in force; ``free`` when none is."""
    return best_of([s.plan for s in subs if in_force(s, now, grace)])
