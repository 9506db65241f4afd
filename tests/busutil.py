"""Helpers for looking at what is on the bus in tests."""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext


async def count_on_subject(js: JetStreamContext, stream: str, subject: str) -> int:
    """How many messages ``stream`` holds on exactly ``subject``."""
    info = await js.stream_info(stream, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def messages_on(js: JetStreamContext, stream: str, subject_filter: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message in ``stream`` matching ``subject_filter``, as (subject, decoded JSON)."""
    info = await js.stream_info(stream)
    found: list[tuple[str, dict[str, Any]]] = []
    if info.state.messages == 0:
        return found
    sub = await js.pull_subscribe(subject_filter, stream=stream)
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            for msg in batch:
                found.append((msg.subject, json.loads(msg.data)))
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return found
