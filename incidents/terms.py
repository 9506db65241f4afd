"""The service-credit rule of ``docs/terms.md``, in integers (a test checks the document says the same).

For an incident of our hosted machines (component ``fly``), each paid customer is credited, per
hosted bot that could not run during the incident, the hours past a grace period of 30 minutes,
at the plan's monthly price prorated over a 30-day month; rounded half up to the cent, at most one
month's price per customer per incident. Free plans carry no credit.
"""

from __future__ import annotations

from billing.plans import PLANS, PaidPlan

CREDITED_COMPONENT = "fly"
GRACE_S = 30 * 60  # per bot, per incident
MONTH_S = 30 * 24 * 3600  # the month credits are prorated over
CURRENCY = "usd"


def credited_seconds(down_seconds: int) -> int:
    """The part of one bot's downtime that is credited: past the grace period."""
    return max(0, down_seconds - GRACE_S)


def monthly_price_cents(plan: PaidPlan) -> int:
    return PLANS[plan].monthly_usd * 100


def credit_cents(plan: PaidPlan, credited_total_s: int) -> int:
    """The credit for ``credited_total_s`` seconds of hosted-bot downtime (all the customer's bots
    together) on ``plan``: price x seconds / month, rounded half up, capped at the monthly price."""
    if credited_total_s < 0:
        raise ValueError("credited seconds cannot be negative")
    price = monthly_price_cents(plan)
    prorated = (2 * price * credited_total_s + MONTH_S) // (2 * MONTH_S)  # half up, exactly
    return min(price, prorated)
