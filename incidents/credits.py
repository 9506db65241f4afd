"""Settling a closed incident's service credits: computed once, issued once, told once.

1. Who is owed what is computed from the downtime inside the incident's window and recorded
   (``service_credits``) in one transaction that also marks the incident computed: a re-run, a
   redelivered close event or a second worker replica reads those rows instead of recomputing.
2. Each pending credit is issued as a Stripe customer-balance credit (taken off the next invoice).
   Before crediting, the customer's balance transactions are searched for this credit's key (a
   crash after Stripe answered, even past Stripe's 24-hour idempotency window); the credit itself
   carries the idempotency key ``credit:<incident>:<user>`` and that key in its metadata.
3. The customer is told by email (when SMTP is set up), once (``notified_at``); the billing page
   lists the credit either way. The incident is settled when no credit is pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate

import asyncpg
import structlog

from billing.gateway import StripeGateway, StripeNotFound, StripeRejected, StripeUnavailable
from contracts.envelope import utc_now
from events.failpoints import Failpoints
from incidents import affected, terms
from notify._exceptions import TargetRejected, TargetUnavailable
from notify.email import EmailTarget, message_id
from store import billing, credits, downtime, incidents, users
from store.credits import CreditRow
from store.incidents import Incident
from store.types import Executor

log = structlog.get_logger(__name__)

CREDIT_KEY_METADATA = "hmmtrade_credit"


def credit_key(incident_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"credit:{incident_id}:{user_id}"


@dataclass(frozen=True)
class CreditDeps:
    pool: asyncpg.Pool
    gateway: StripeGateway
    email: EmailTarget | None = None  # None: no SMTP relay; the billing page still lists the credit
    clock: Callable[[], datetime] = utc_now
    failpoints: Failpoints = field(default_factory=Failpoints)  # the kill -9 test's gap: credited, not recorded


@dataclass(frozen=True)
class Settlement:
    incident_id: uuid.UUID
    issued: int  # credits issued by this run
    pending: int  # credits still to issue (Stripe away): the next run goes on
    settled: bool


async def settle(incident_id: uuid.UUID, deps: CreditDeps) -> Settlement:
    """Compute (once), issue and announce the credits of a closed incident; safe to run again."""
    structlog.contextvars.bind_contextvars(incident_id=str(incident_id))
    incident = await _computed(incident_id, deps)
    if incident is None or incident.credits_settled_at is not None:
        return Settlement(incident_id, 0, 0, settled=incident is not None)
    issued = pending = 0
    for credit in await credits.of_incident(deps.pool, incident_id):
        try:
            if credit.status == "pending":
                credit = await _issue(incident, credit, deps)
                issued += credit.status == "issued"
            if credit.status == "issued" and credit.notified_at is None:
                await _tell(incident, credit, deps)
        except TargetRejected as exc:  # the address bounces: the billing page still shows the credit
            log.warning("credits.notice_refused", user_id=str(credit.user_id), error=str(exc))
        except StripeNotFound:  # the customer was deleted at Stripe: there is nothing to credit
            await credits.mark_issued(
                deps.pool, incident_id, credit.user_id, status="no_customer", txn_id=None, at=deps.clock()
            )
        except StripeRejected as exc:  # our request is wrong: retried (the sweep), and an operator must look
            log.error("credits.refused_by_stripe", user_id=str(credit.user_id), error=str(exc))
            pending += 1
        except (StripeUnavailable, TargetUnavailable) as exc:  # the next run goes on from here
            log.warning("credits.retry_later", user_id=str(credit.user_id), error=str(exc))
            pending += 1
    if pending == 0:
        await incidents.mark_settled(deps.pool, incident_id, at=deps.clock())
        log.info("credits.settled", issued_now=issued)  # the incident id is bound above
    return Settlement(incident_id, issued, pending, settled=pending == 0)


async def _computed(incident_id: uuid.UUID, deps: CreditDeps) -> Incident | None:
    """The closed incident, its credits recorded (computed now if no run did before)."""
    async with deps.pool.acquire() as conn, conn.transaction():
        incident = await incidents.get(conn, incident_id, for_update=True)  # one computing run at a time
        if incident is None or incident.ended_at is None:
            return None
        if incident.credits_computed_at is None:
            due = await _credits_due(conn, incident) if incident.component == terms.CREDITED_COMPONENT else []
            await credits.record(conn, due)
            await incidents.mark_computed(conn, incident_id, at=deps.clock())
            log.info(
                "credits.computed",
                incident_id=str(incident_id),
                customers=len(due),
                cents=sum(c.amount_cents for c in due),
            )
    return incident


async def _credits_due(conn: Executor, incident: Incident) -> list[CreditRow]:
    assert incident.ended_at is not None
    intervals = await downtime.overlapping(conn, incident.started_at, incident.ended_at)
    bots = affected.downtime_in_window(intervals, incident.started_at, incident.ended_at)
    user_ids = sorted({bot.user_id for bot in bots})
    return affected.credits_due(
        incident.id,
        bots,
        plans=await billing.tiers_of(conn, user_ids),
        customers=(await billing.customers_of(conn, user_ids)).keys(),
    )


async def _issue(incident: Incident, credit: CreditRow, deps: CreditDeps) -> CreditRow:
    """Issue one pending credit; the credit as now recorded."""
    customer_id = await billing.customer_of(deps.pool, credit.user_id)
    if customer_id is None:  # the customer was deleted since: nothing to credit
        await credits.mark_issued(
            deps.pool, incident.id, credit.user_id, status="no_customer", txn_id=None, at=deps.clock()
        )
        return replace(credit, status="no_customer")
    key = credit_key(incident.id, credit.user_id)
    earlier = [c for c in await deps.gateway.list_credits(customer_id) if c.metadata.get(CREDIT_KEY_METADATA) == key]
    if earlier:
        txn_id = earlier[0].id
    else:
        txn = await deps.gateway.credit_customer(
            customer_id=customer_id,
            amount_cents=credit.amount_cents,
            currency=credit.currency,
            description=_description(incident),
            metadata={
                CREDIT_KEY_METADATA: key,
                "hmmtrade_incident": str(incident.id),
                "hmmtrade_user_id": str(credit.user_id),
            },
            idempotency_key=key,
        )
        txn_id = txn.id
        await deps.failpoints.hit("credits.after_stripe")
    at = deps.clock()
    await credits.mark_issued(deps.pool, incident.id, credit.user_id, status="issued", txn_id=txn_id, at=at)
    log.info("credits.issued", incident_id=str(incident.id), user_id=str(credit.user_id), cents=credit.amount_cents)
    return replace(credit, status="issued", stripe_txn_id=txn_id, issued_at=at)


def _description(incident: Incident) -> str:
    return f"HMM Trade service credit: {incident.title} ({incident.started_at:%Y-%m-%d})"


async def _tell(incident: Incident, credit: CreditRow, deps: CreditDeps) -> None:
    if deps.email is None:
        return
    user = await users.user_by_id(deps.pool, credit.user_id)
    if user is None:
        return
    await deps.email.send_message(credit_notice(incident, credit, sender=deps.email.sender, to=user.email))
    await credits.mark_notified(deps.pool, incident.id, credit.user_id, at=deps.clock())


def credit_notice(incident: Incident, credit: CreditRow, *, sender: str, to: str) -> EmailMessage:
    """The email telling a customer about their credit (the same Message-ID if sent again)."""
    assert incident.ended_at is not None
    amount = f"${credit.amount_cents / 100:,.2f}"
    lines = [
        f"We are sorry: {incident.title.rstrip('.')} kept your hosted bots from running between "
        f"{incident.started_at:%Y-%m-%d %H:%M} and {incident.ended_at:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Per our terms (docs/terms.md), we have credited {amount} to your account; it is taken off your next invoice.",
        "",
    ]
    for bot in credit.bots:
        lines.append(
            f"- {bot.bot_name}: down {bot.down_seconds / 3600:.2f} h, credited {bot.credited_seconds / 3600:.2f} h"
            f" (the first {terms.GRACE_S // 60} minutes are not credited)"
        )
    lines += ["", "You can see this credit on your billing page."]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Service credit of {amount}: {incident.title}"[:200]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(credit_key(incident.id, credit.user_id))
    message.set_content("\n".join(lines))
    return message
