"""Every stream, subject, consumer and KV bucket of the bus, declared once.

``ensure_topology`` creates or updates them idempotently at start-up, so any process
(API, workers, agent, ``hmmtrade up``) may call it and a second call changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import structlog
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

DAY = 24 * 3600.0
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float
    duplicate_window_s: float = 120.0
    max_bytes: int = -1

    def config(self, replicas: int = 1) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            num_replicas=replicas,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.max_age_s,
            max_bytes=self.max_bytes,
            duplicate_window=self.duplicate_window_s,
        )


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer. Deliveries are bounded; the handler naks with backoff."""

    durable: str
    stream: str
    filter_subject: str
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    max_ack_pending: int = 1_000
    retry_delays_s: tuple[float, ...] = field(default=(0.5, 2.0, 5.0, 15.0))
    # New messages only: a consumer added to a stream with history must not act on that history
    # (the notifier would otherwise send a week of old regime changes on its first start).
    deliver_new: bool = False

    def config(self, ack_wait_s: float | None = None) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW if self.deliver_new else DeliverPolicy.ALL,
            max_deliver=self.max_deliver,
            ack_wait=ack_wait_s if ack_wait_s is not None else self.ack_wait_s,
            max_ack_pending=self.max_ack_pending,
        )

    def retry_delay(self, delivered: int) -> float:
        """Delay before redelivery after the ``delivered``-th attempt failed (1-based)."""
        index = min(max(delivered, 1), len(self.retry_delays_s)) - 1
        return self.retry_delays_s[index]


INTENTS = StreamSpec("INTENTS", ("intents.>",), max_age_s=30 * DAY)
STRIPE = StreamSpec("STRIPE", ("stripe.events.>",), max_age_s=30 * DAY, duplicate_window_s=DAY)
BOTS = StreamSpec("BOTS", ("bots.>",), max_age_s=7 * DAY, max_bytes=2 * 1024**3)
EVENTS = StreamSpec("EVENTS", ("events.>",), max_age_s=7 * DAY)
DLQ = StreamSpec("DLQ", ("dlq.>",), max_age_s=90 * DAY)
STREAMS: tuple[StreamSpec, ...] = (INTENTS, STRIPE, BOTS, EVENTS, DLQ)

LIFECYCLE = ConsumerSpec("lifecycle", "INTENTS", "intents.bot.>")
AUDIT_INGEST = ConsumerSpec("audit-ingest", "BOTS", "bots.*.audit", max_deliver=10, max_ack_pending=10_000)
BROKERS = ConsumerSpec("brokers", "INTENTS", "intents.broker.>")
# Fly calls are slow (a stop waits for the machine): a long ack wait, a patient backoff.
HOSTING = ConsumerSpec(
    "hosting",
    "EVENTS",
    "events.bot.>",
    max_deliver=10,
    ack_wait_s=180.0,
    retry_delays_s=(1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
# Billing: verified Stripe events -> billing intents (re-fetching the subscription), and
# billing intents -> the user's tier and, when hosted bots are no longer covered, their stops.
BILLING_STRIPE = ConsumerSpec(
    "billing-stripe", "STRIPE", "stripe.events.>", max_deliver=10, retry_delays_s=(1.0, 5.0, 15.0, 60.0, 300.0)
)
BILLING = ConsumerSpec("billing", "INTENTS", "intents.billing.>")
# Notifications: bots' audit records and stop/failure events -> the delivery ledger (workers.notifier).
NOTIFY_AUDIT = ConsumerSpec(
    "notify-audit", "BOTS", "bots.*.audit", max_deliver=10, max_ack_pending=10_000, deliver_new=True
)
NOTIFY_EVENTS = ConsumerSpec("notify-events", "EVENTS", "events.bot.>", max_deliver=10, deliver_new=True)
# Service credits: a closed incident -> its customers' credits through Stripe (workers.credits).
CREDITS = ConsumerSpec(
    "credits", "EVENTS", "events.incident.*.closed", max_deliver=20, retry_delays_s=(1.0, 5.0, 15.0, 60.0)
)
CONSUMERS: tuple[ConsumerSpec, ...] = (
    LIFECYCLE,
    AUDIT_INGEST,
    BROKERS,
    HOSTING,
    BILLING_STRIPE,
    BILLING,
    NOTIFY_AUDIT,
    NOTIFY_EVENTS,
    CREDITS,
)

BOT_STATE_BUCKET = "bot_state"
TOPOLOGY_TIMEOUT_S = 15.0
"""How long a stream or bucket creation may take: a replicated one forms its raft group first."""
LEASE_BUCKET = "leases"
LEASE_TTL_S = 10.0
"""A singleton's lease lapses this long after its holder's last renewal (the lease bucket's max
age): a dead replica's job moves to a survivor within it; renewals come every third of it."""


# ---- subjects -------------------------------------------------------------------------


def subject_token(value: object) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ". *>\t\r\n"):
        raise ValueError(f"{text!r} cannot be a subject token")
    return text


def intent_subject(kind: str) -> str:
    """``bot.create`` -> ``intents.bot.create``."""
    return f"intents.{kind}"


def bot_subject(bot_id: object, what: str) -> str:
    """Subjects a running bot publishes on: ``bots.<id>.{audit,tick,status,log}``."""
    return f"bots.{subject_token(bot_id)}.{what}"


def rearm_request_key(bot_id: object) -> str:
    """The ``bot_state`` key of a bot's pending re-arm request, next to its checkpoint (key = bot id)."""
    return f"{subject_token(bot_id)}.rearm"


def rearm_request_subject(bot_id: object) -> str:
    """Publishing here is a KV put of the bot's re-arm request."""
    return f"$KV.{BOT_STATE_BUCKET}.{rearm_request_key(bot_id)}"


def bot_event_subject(bot_id: object, what: str) -> str:
    return f"events.bot.{subject_token(bot_id)}.{what}"


def incident_event_subject(incident_id: object, what: str) -> str:
    return f"events.incident.{subject_token(incident_id)}.{what}"


def intent_event_subject(intent_id: str, outcome: str) -> str:
    return f"events.intent.{subject_token(intent_id)}.{outcome}"


def stripe_subject(event_type: str) -> str:
    return f"stripe.events.{event_type}"


def dlq_subject(original_subject: str) -> str:
    return f"dlq.{original_subject}"


# ---- creation -------------------------------------------------------------------------


async def ensure_topology(
    js: JetStreamContext, *, ack_wait_s: float | None = None, replicas: int = 1, lease_ttl_s: float | None = None
) -> None:
    """Create or update every stream, durable consumer and KV bucket, each kept on ``replicas``
    servers (1 on a single server; 3 in a 3-node cluster: any one node may be lost).

    Consumers take their stream's replica count; raising ``replicas`` later scales existing
    streams up in place. The workers' lease bucket is made when ``lease_ttl_s`` is given (its
    max age is set at creation; lease holders read it back from the bucket).

    Each step is retried while JetStream answers "not ready" or not at all: a cluster that has
    just formed still elects its leaders and enables accounts, and the API and the workers
    (compose starts everything at once) declare the same streams side by side while their raft
    groups form. A step that timed out may have happened; its retry finds it and updates it."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    await _patiently(js.account_info, deadline)
    for spec in STREAMS:
        await _patiently(partial(_ensure_stream, js, spec, replicas), deadline)
    for consumer in CONSUMERS:
        # add_consumer is create-or-update for a durable with the same filter.
        await _patiently(partial(js.add_consumer, consumer.stream, consumer.config(ack_wait_s)), deadline)
    # Direct gets name the key in the request subject, which lets a bot's credentials be
    # scoped to its own key (events.auth.roles.bot_permissions).
    buckets = [KeyValueConfig(bucket=BOT_STATE_BUCKET, history=1, storage=StorageType.FILE, direct=True)]
    if lease_ttl_s is not None:
        buckets.append(
            KeyValueConfig(bucket=LEASE_BUCKET, history=1, storage=StorageType.FILE, ttl=lease_ttl_s, direct=False)
        )
    for bucket in buckets:
        await _patiently(partial(_ensure_bucket, js, bucket, replicas), deadline)


READY_TIMEOUT_S = 90.0
_STREAM_NAME_IN_USE = 10058  # another process created it between our look and our create


async def _patiently(step: Callable[[], Awaitable[object]], deadline: float) -> None:
    while True:
        try:
            await step()
            return
        except (ServiceUnavailableError, NatsTimeoutError, NoRespondersError, BadRequestError) as exc:
            if isinstance(exc, BadRequestError) and exc.err_code != _STREAM_NAME_IN_USE:
                raise
            if time.monotonic() > deadline:
                raise
            log.info("topology.waiting", step=getattr(step, "func", step).__name__, error=type(exc).__name__)
            await asyncio.sleep(0.2)


async def _ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int) -> None:
    wanted = spec.config(replicas)
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(wanted)
        return
    if _differs(info.config, wanted):  # an update is a cluster-wide proposal: only when something changed
        await js.update_stream(wanted)


def _differs(current: StreamConfig, wanted: StreamConfig) -> bool:
    fields = ("subjects", "retention", "storage", "max_age", "max_bytes", "duplicate_window")
    if any(getattr(current, name) != getattr(wanted, name) for name in fields):
        return True
    return (current.num_replicas or 1) != (wanted.num_replicas or 1)


async def _ensure_bucket(js: JetStreamContext, config: KeyValueConfig, replicas: int) -> None:
    config.replicas = replicas
    try:
        info = await js.stream_info(f"KV_{config.bucket}")
    except NotFoundError:
        await js.create_key_value(config)
        return
    wanted_direct = bool(config.direct)
    if info.config.allow_direct != wanted_direct or (info.config.num_replicas or 1) != replicas:
        info.config.allow_direct = wanted_direct
        info.config.num_replicas = replicas
        await js.update_stream(info.config)
