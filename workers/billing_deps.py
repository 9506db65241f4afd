"""What the billing consumers need: the database, the bus, Stripe, and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from billing.gateway import StripeGateway
from billing.plans import PAST_DUE_GRACE
from billing.settings import StripeSettings
from contracts.envelope import utc_now
from events.bus import Bus
from workers.failpoints import Failpoints

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class BillingDeps:
    pool: asyncpg.Pool
    bus: Bus
    gateway: StripeGateway
    stripe: StripeSettings
    clock: Clock = field(default=utc_now)
    grace: timedelta = PAST_DUE_GRACE
    failpoints: Failpoints = field(default_factory=Failpoints)
