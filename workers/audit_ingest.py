"""The audit-ingest consumer: ``bots.*.audit`` -> ``audit_events`` in batches.

Idempotent by construction: (bot id, seq) is the primary key and inserts skip rows
already there, so redelivered or re-published records are stored once.

While Postgres is unreachable the batch is held (``events.hold``), not nak-ed: an outage
longer than the retry delays would otherwise dead-letter every record that arrived in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
import structlog
from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts.events import AuditRecord
from events.bus import Bus
from events.dlq import dead_letter_msg
from events.hold import hold_for_database
from events.outage import is_database_down
from events.topology import AUDIT_INGEST, BOTS
from metrics import observe
from store import audit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AuditDeps:
    pool: asyncpg.Pool
    bus: Bus


def parse_audit(msg: Msg) -> AuditRecord:
    """The record, checked against the subject it arrived on; ValueError if unusable."""
    try:
        record = AuditRecord.model_validate_json(msg.data)
    except ValidationError as exc:
        raise ValueError(
            "malformed audit record: "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        ) from exc
    subject_bot = msg.subject.split(".")[1] if msg.subject.count(".") == 2 else ""
    if subject_bot != str(record.bot_id):
        raise ValueError(f"audit record for bot {record.bot_id} arrived on {msg.subject}")
    return record


async def ingest(batch: list[Msg], deps: AuditDeps) -> None:
    started = time.perf_counter()
    good: list[tuple[Msg, AuditRecord]] = []
    for msg in batch:
        try:
            good.append((msg, parse_audit(msg)))
        except ValueError as exc:
            await dead_letter_msg(deps.bus, msg, reason=str(exc), consumer=AUDIT_INGEST.durable)
    if not good:
        return
    try:
        inserted = await _insert(good, deps)
    except Exception as exc:  # noqa: BLE001 - database trouble: retry the batch later, boundedly
        if is_database_down(exc):
            records = {id(msg): record for msg, record in good}

            async def store_held(msgs: list[Msg]) -> None:
                held = [(msg, records[id(msg)]) for msg in msgs]
                await _acked(held, await _insert(held, deps), started)

            await hold_for_database(
                [msg for msg, _ in good],
                store_held,
                consumer=AUDIT_INGEST.durable,
                ack_wait_s=await _ack_wait_s(deps.bus),
                first_error=exc,
            )
            return
        log.warning("audit.insert_failed", error=str(exc), batch=len(good))
        for msg, _ in good:
            delivered = msg.metadata.num_delivered
            if delivered >= AUDIT_INGEST.max_deliver:
                await dead_letter_msg(
                    deps.bus,
                    msg,
                    reason=f"could not store after {delivered} deliveries: {exc}",
                    consumer=AUDIT_INGEST.durable,
                )
            else:
                await msg.nak(delay=AUDIT_INGEST.retry_delay(delivered))
        return
    await _acked(good, inserted, started)


async def _insert(good: list[tuple[Msg, AuditRecord]], deps: AuditDeps) -> int:
    async with deps.pool.acquire() as conn:
        return await audit.insert_batch(conn, [record for _, record in good])


async def _acked(good: list[tuple[Msg, AuditRecord]], inserted: int, started: float) -> None:
    for msg, _ in good:
        await msg.ack()
    observe.batch_settled(AUDIT_INGEST.durable, "acked", len(good), time.perf_counter() - started)
    observe.audit_stored((str(r.bot_id), r.occurred_at.timestamp()) for _, r in good)
    log.info("audit.ingested", batch=len(good), inserted=inserted, ms=round((time.perf_counter() - started) * 1000, 2))


async def _ack_wait_s(bus: Bus) -> float:
    """The consumer's ack wait as the server has it (deployments and tests shorten it)."""
    try:
        info = await bus.js.consumer_info(BOTS.name, AUDIT_INGEST.durable)
    except Exception:  # noqa: BLE001 - short is safe: in-progress acks are cheap and idempotent
        return 1.0
    return float(info.config.ack_wait or AUDIT_INGEST.ack_wait_s)
