"""Dead letters: a message that cannot be processed is parked on ``dlq.<subject>`` with why.

The dead letter's msg id is derived from the original's stream position, so recording
the same failure twice (handler and max-deliveries advisory both firing) stores one.
"""

from __future__ import annotations

import base64
import json

import structlog
from nats.aio.msg import Msg

from contracts.envelope import utc_now
from contracts.events import DeadLetter
from events.bus import MSG_ID, Bus
from events.topology import dlq_subject

log = structlog.get_logger(__name__)


def dead_letter_from(
    *,
    reason: str,
    subject: str,
    payload: bytes,
    headers: dict[str, str] | None,
    stream: str | None,
    stream_seq: int | None,
    consumer: str | None,
    deliveries: int | None,
) -> DeadLetter:
    return DeadLetter(
        reason=reason[:2_000],
        original_subject=subject,
        original_headers=dict(headers or {}),
        stream=stream,
        stream_seq=stream_seq,
        consumer=consumer,
        deliveries=deliveries,
        payload_b64=base64.b64encode(payload).decode(),
        failed_at=utc_now(),
    )


async def publish_dead_letter(bus: Bus, letter: DeadLetter) -> None:
    if letter.stream is not None and letter.stream_seq is not None:
        msg_id = f"dlq:{letter.stream}:{letter.stream_seq}"
    else:
        msg_id = f"dlq:{letter.original_headers.get(MSG_ID, letter.payload_b64[:64])}"
    await bus.publish_raw(
        dlq_subject(letter.original_subject),
        letter.model_dump_json().encode(),
        headers={MSG_ID: msg_id, "Hmm-Type": "dead_letter"},
    )
    log.warning(
        "dlq.parked",
        subject=letter.original_subject,
        reason=letter.reason,
        stream_seq=letter.stream_seq,
        consumer=letter.consumer,
    )


async def dead_letter_msg(bus: Bus, msg: Msg, *, reason: str, consumer: str) -> None:
    """Park a JetStream message in the DLQ, then terminate it so it is never redelivered."""
    meta = msg.metadata
    letter = dead_letter_from(
        reason=reason,
        subject=msg.subject,
        payload=msg.data,
        headers=msg.headers,
        stream=meta.stream,
        stream_seq=meta.sequence.stream,
        consumer=consumer,
        deliveries=meta.num_delivered,
    )
    await publish_dead_letter(bus, letter)
    await msg.term()


MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"


async def watch_max_deliveries(bus: Bus) -> None:
    """Dead-letter messages the server gave up on (e.g. a worker crashed on every attempt).

    Handlers dead-letter their own last attempt; this catches the ones that never got
    that far. Returns once subscribed; the subscription lives as long as the connection.
    """

    async def on_advisory(advisory: Msg) -> None:
        try:
            body = json.loads(advisory.data)
            stream, seq, consumer = body["stream"], int(body["stream_seq"]), body["consumer"]
            original = await bus.js.get_msg(stream, seq)
        except Exception as exc:  # noqa: BLE001 - an advisory we can't act on is logged, not fatal
            log.error("dlq.advisory_unusable", error=str(exc))
            return
        letter = dead_letter_from(
            reason=f"delivered {body.get('deliveries')} times without an ack (max_deliver reached)",
            subject=original.subject or "",
            payload=original.data or b"",
            headers=dict(original.headers or {}),
            stream=stream,
            stream_seq=seq,
            consumer=consumer,
            deliveries=body.get("deliveries"),
        )
        await publish_dead_letter(bus, letter)

    await bus.client.subscribe(MAX_DELIVERIES_ADVISORY, cb=on_advisory)
