"""Every plan and its limits, in one place.

``free`` runs bots on the user's own laptop (the local agent) only; ``pro`` and ``team``
add hosted bots on our cloud. A bot counts against the limits from its create until it
is deleted (a stopped bot still counts: its data and slot are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

PlanName = Literal["free", "pro", "team"]
PaidPlan = Literal["pro", "team"]

# A subscription whose payment failed keeps its plan this long; then its hosted bots stop
# as if it had been canceled. Stripe's own dunning retries fit inside it.
PAST_DUE_GRACE = timedelta(days=7)


@dataclass(frozen=True)
class Plan:
    name: PlanName
    title: str
    monthly_usd: int
    max_bots: int
    max_hosted_bots: int

    @property
    def hosted_allowed(self) -> bool:
        return self.max_hosted_bots > 0


PLANS: dict[PlanName, Plan] = {
    "free": Plan("free", "Free", 0, max_bots=3, max_hosted_bots=0),
    "pro": Plan("pro", "Pro", 29, max_bots=10, max_hosted_bots=3),
    "team": Plan("team", "Team", 99, max_bots=50, max_hosted_bots=20),
}
PAID_PLANS: tuple[PaidPlan, ...] = ("pro", "team")


def plan(name: str) -> Plan:
    """The plan called ``name``; an unknown name (a corrupt row) counts as ``free``."""
    return PLANS.get(name, PLANS["free"])  # type: ignore[call-overload,no-any-return]


def best_of(names: list[str]) -> PlanName:
    """The most generous of ``names`` (a user with two live subscriptions gets the better one)."""
    ranked = sorted((plan(n) for n in names), key=lambda p: (p.max_hosted_bots, p.max_bots))
    return ranked[-1].name if ranked else "free"


@dataclass(frozen=True)
class LimitExceeded:
    """Why a bot may not be created or started on a plan; ``message`` is for the user."""

    plan: PlanName
    limit: str
    allowed: int
    message: str


def check_create(plan_name: str, surface: str, *, bots: int, hosted_bots: int) -> LimitExceeded | None:
    """May a user on ``plan_name`` with ``bots`` (``hosted_bots`` of them hosted) add one on ``surface``?"""
    p = plan(plan_name)
    if surface == "hosted":
        refused = check_hosted(p.name)
        if refused is not None:
            return refused
        if hosted_bots >= p.max_hosted_bots:
            return LimitExceeded(
                p.name,
                "max_hosted_bots",
                p.max_hosted_bots,
                f"The {p.name} plan allows {p.max_hosted_bots} hosted bots and you have {hosted_bots}: "
                f"delete one{_upgrade_hint(p)}.",
            )
    if bots >= p.max_bots:
        return LimitExceeded(
            p.name,
            "max_bots",
            p.max_bots,
            f"The {p.name} plan allows {p.max_bots} bots and you have {bots}: delete one{_upgrade_hint(p)}.",
        )
    return None


def check_hosted(plan_name: str) -> LimitExceeded | None:
    """Hosted bots need a paid plan."""
    p = plan(plan_name)
    if p.hosted_allowed:
        return None
    return LimitExceeded(
        p.name,
        "max_hosted_bots",
        0,
        f"The {p.name} plan runs bots on your own machine only (surface 'local'): hosted bots need the pro "
        "or team plan (POST /api/v1/billing/checkout).",
    )


def _upgrade_hint(p: Plan) -> str:
    better = [n for n in PAID_PLANS if PLANS[n].max_bots > p.max_bots]
    return f" or upgrade to {better[0]} (POST /api/v1/billing/checkout)" if better else ""
