"""Waiting on an event with a timeout, without ``asyncio.wait_for``.

On Python 3.11, ``wait_for`` can swallow a cancel that lands as its inner wait completes or
times out (CPython gh-86296, fixed in 3.12): a ``while True`` loop around it then never ends
and whoever awaits the cancelled task waits for good (a notifier's ``close`` hung a test run
for 600 s). ``asyncio.wait`` only watches: a cancel always reaches the caller.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; whether it is set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()
    return event.is_set()
