"""The lifecycle consumer's fast path: a pulled batch of intents in one transaction.

In the common case (first deliveries, no duplicates, no errors) the intents of a batch
are projected in stream order per bot, in a few concurrent transactions (one per shard of
bots) with their ledger rows; their events are published together, and every message is
acked: a few commits and coalesced writes per batch instead of per intent. Everything
unusual takes the one-at-a-time path (``lifecycle.handle`` through ``settle``), which
owns the retry and dead-letter policy: a batch holding any redelivery (all of it, in stream
order), malformed messages, intents that must wait (bot not projected yet), and the whole
shard if its transaction fails or meets an intent some other delivery already did.
The crash guarantees are the same as the single path's: nothing is acked before the
commit, and a redelivery after the commit replays the saved events.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import structlog
from nats.aio.msg import Msg

from events.bus import MSG_ID, TYPE_HEADER, BusUnavailable
from events.consume import MalformedMessage, TransientError, settle
from events.hold import FIRST_RETRY_S, MAX_RETRY_S, kept_in_progress
from events.topology import LIFECYCLE
from metrics import observe
from store import intents, ledger
from store.fences import FenceLost
from store.intents import Outcome
from workers.lifecycle import CONSUMER, AnyBotIntent, LifecycleDeps, give_up, handle, parse_bot_intent, project

log = structlog.get_logger(__name__)

Projected = tuple[Msg, AnyBotIntent, list[dict[str, Any]]]
PARALLEL_SHARDS = 4


class _BatchAbandoned(Exception):
    """Something needs the careful path; the batch transaction rolls back."""


async def handle_batch(batch: list[Msg], deps: LifecycleDeps) -> None:
    if any(msg.metadata.num_delivered > 1 for msg in batch):
        # A redelivery (after a crash, a nak, a takeover) is older than the first deliveries
        # beside it: projecting those first would put a bot's later intents before its earlier
        # one. Such a batch goes one at a time, in stream order (and each redelivery checks the
        # ledger first: it may have committed before the crash).
        for msg in batch:
            await _settle_one(msg, deps)
        return
    started = time.perf_counter()
    fresh: list[tuple[Msg, AnyBotIntent]] = []
    careful: list[Msg] = []
    for msg in batch:
        try:
            fresh.append((msg, parse_bot_intent(msg.data)))
        except MalformedMessage:
            careful.append(msg)  # dead-lettered with its reason by the single path
    # Users are independent: shards of the batch run in concurrent transactions, overlapping
    # their database round trips. A user's intents (so each bot's, in order) stay in one shard:
    # a create locks its user's row to count the plan's bots, and shards cut by bot took two
    # users' locks in opposite orders, deadlocked, and sent whole shards down the slow path.
    shards: list[list[tuple[Msg, AnyBotIntent]]] = [[] for _ in range(PARALLEL_SHARDS)]
    for msg, intent in fresh:
        shards[intent.user_id.int % PARALLEL_SHARDS].append((msg, intent))
    results = await asyncio.gather(*(_project(shard, deps) for shard in shards if shard))
    projected: list[Projected] = []
    retry: list[Msg] = []
    for shard, (done, waiting) in zip((s for s in shards if s), results, strict=True):
        if done is None:
            retry.extend(msg for msg, _ in shard)
        else:
            projected.extend(done)
            retry.extend(waiting)
    if projected:
        await _publish_and_ack(projected, deps)
        observe.batch_settled(LIFECYCLE.durable, "acked", len(projected), time.perf_counter() - started)
    for msg in retry + careful:
        await _settle_one(msg, deps)


async def _settle_one(msg: Msg, deps: LifecycleDeps) -> None:
    structlog.contextvars.clear_contextvars()
    await settle(
        msg,
        partial(handle, deps=deps),
        bus=deps.bus,
        consumer=LIFECYCLE,
        on_give_up=partial(give_up, deps=deps),
    )


async def _project(
    fresh: list[tuple[Msg, AnyBotIntent]], deps: LifecycleDeps
) -> tuple[list[Projected] | None, list[Msg]]:
    """Project ``fresh`` in one transaction: (projected, must-wait), or (None, []) if abandoned.

    The outcome rows and ledger rows of the whole shard are written by one statement each,
    last, as the single path writes its own: the transaction commits all of it or nothing.
    """
    if not fresh:
        return [], []
    projected: list[Projected] = []
    outcomes: list[Outcome] = []
    waiting: list[Msg] = []
    try:
        async with deps.pool.acquire() as conn, conn.transaction():
            await deps.check_fence(conn)
            for msg, intent in fresh:
                try:
                    projection = await project(conn, intent)  # raises TransientError before writing anything
                except TransientError:
                    waiting.append(msg)
                    continue
                projected.append((msg, intent, [emit.to_json() for emit in projection.emits]))
                outcomes.append(projection.outcome)
            if projected:
                await intents.record_outcomes(conn, outcomes)
                saved = {intent.id: outcome for _, intent, outcome in projected}
                if len(saved) != len(projected):
                    raise _BatchAbandoned("the batch holds an intent twice")
                recorded = await ledger.record_many(conn, consumer=CONSUMER, outcomes=saved)
                if len(recorded) != len(saved):
                    raise _BatchAbandoned(f"intents {sorted(saved.keys() - recorded)} were already handled")
            await deps.failpoints.hit("lifecycle.in_transaction")
    except FenceLost:
        raise  # another replica projects now: leave the whole batch unacked for it
    except Exception as exc:  # noqa: BLE001 - the single path retries each message under its policy
        log.info("lifecycle.batch_abandoned", size=len(fresh), reason=f"{type(exc).__name__}: {exc}")
        return None, []
    return projected, waiting


async def _publish_and_ack(projected: list[Projected], deps: LifecycleDeps) -> None:
    await deps.failpoints.hit("lifecycle.before_publish")
    chains: dict[Any, list[dict[str, Any]]] = {}
    for _, intent, outcome in projected:
        chains.setdefault(intent.bot_id, []).extend(outcome)
    # The batch is committed: its events must reach the stream before the puller takes the next
    # batch, or a bot's later events (from that batch) would be stored before these (replayed from
    # the ledger after the ack wait). So they are published here until stored, the deliveries
    # kept in progress meanwhile; each bot's one after another, bots side by side.
    async with kept_in_progress(lambda: [msg for msg, _, _ in projected], deps.ack_wait_s):
        await asyncio.gather(*(_publish_in_order(chain, deps) for chain in chains.values()))
    await deps.failpoints.hit("lifecycle.before_ack")
    await asyncio.gather(*(msg.ack() for msg, _, _ in projected))
    for _, intent, _ in projected:
        log.info(
            "intent.handled",
            kind=intent.type,
            replay=False,
            intent_id=intent.id,
            bot_id=str(intent.bot_id),
            correlation_id=intent.correlation_id,
        )


async def _publish_in_order(events: list[dict[str, Any]], deps: LifecycleDeps) -> None:
    """Publish one bot's events, each stored before the next is sent, retrying through a bus outage.

    A retry carries the same message id: the stream stores the event once whatever an unanswered
    attempt did. A replica that lost its lease meanwhile stops; its successor replays the events.
    """
    for event in events:
        delay = FIRST_RETRY_S
        while True:
            try:
                await deps.bus.publish_raw(
                    event["subject"],
                    event["payload"].encode(),
                    headers={MSG_ID: event["id"], TYPE_HEADER: event["type"]},
                )
                break
            except BusUnavailable as exc:
                if deps.fence is not None and deps.fence.lost.is_set():
                    raise FenceLost(deps.fence.name) from exc
                log.warning("lifecycle.publish_retry", event_id=event["id"], error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)
