"""Service credits in words, one line each, as the billing page lists them.

"$1.23 credited on 2026-12-05 for <incident>: Bot A down 2.5 h (2.0 h credited)". The grace period
is the one of ``docs/terms.md`` (``incidents.terms.GRACE_S``, which the web app may not import; a
browser test checks the two agree).
"""

from __future__ import annotations

import html
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ui.format import date_label, money
from web.api import when

GRACE_MINUTES = 30


def hours_words(hours: float) -> str:
    """``2.5 h``; under an hour in minutes (``20 min``), so a short outage does not read ``0.3 h``."""
    if hours < 1:
        minutes = Decimal(repr(float(hours))) * 60
        return f"{minutes.quantize(Decimal(1), rounding=ROUND_HALF_UP)} min"
    return f"{Decimal(repr(float(hours))).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} h"


def amount_words(cents: int, currency: str) -> str:
    if currency.lower() == "usd":
        return money(cents / 100)
    return f"{Decimal(cents) / 100:,.2f} {html.escape(currency.upper())}"


def _bots(credit: dict[str, Any]) -> str:
    parts = []
    for bot in credit.get("bots") or []:
        down, credited = float(bot.get("down_hours") or 0), float(bot.get("credited_hours") or 0)
        paid = f"{hours_words(credited)} credited" if credited > 0 else "none credited"
        parts.append(f"{html.escape(str(bot.get('name')))} down {hours_words(down)} ({paid})")
    return "; ".join(parts)


def credit_line(credit: dict[str, Any]) -> str:
    """One credit as a sentence, by its status."""
    title = html.escape(str(credit.get("incident_title") or "an incident"))
    amount = amount_words(int(credit.get("amount_cents") or 0), str(credit.get("currency") or "usd"))
    bots = _bots(credit)
    status = str(credit.get("status"))
    if status == "issued":
        text = f"<b>{amount}</b> credited on {date_label(when(credit.get('issued_at')))} for {title}: {bots}."
        text += " Taken off your next invoice."
    elif status == "pending":
        text = f"<b>{amount}</b> being issued for {title}: {bots}. It is taken off your next invoice."
    elif status == "none_due":
        text = f"No credit due for {title}: {bots}, within the {GRACE_MINUTES}-minute grace period."
    else:  # no_customer
        text = f"No credit issued for {title}: {bots}. There is no payment account to credit."
    return f'<li class="credit" data-status="{html.escape(status)}">{text}</li>'


def credits_html(credits: list[dict[str, Any]]) -> str:
    """The billing page's "Service credits" section; empty when there are none."""
    if not credits:
        return ""
    lines = "".join(credit_line(c) for c in credits)
    return (
        '<section class="credits"><h2>Service credits</h2>'
        f"<p>When an outage of our hosted machines keeps your hosted bots from running for more than "
        f"{GRACE_MINUTES} minutes, we credit the time lost (see the terms of service).</p>"
        f'<ul class="credits">{lines}</ul></section>'
    )
