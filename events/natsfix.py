"""Work around a FastStream 0.7.8 / nats-py 2.16 mismatch that strands pulled messages.

FastStream's batch pull loop stops collecting on ``nats.errors.TimeoutError``, but
nats-py's ``PullSubscription.fetch`` can also raise a bare ``asyncio.TimeoutError``
(when the deadline runs out between its two pull requests). That one escapes the loop,
FastStream's supervisor restarts the task, and the messages already collected for the
batch are dropped unacked: they come back only after ``ack_wait``. Seen under load in
``bench/intents`` (4% of intents delayed by 30 s). Translating the bare error into the
nats-py subclass restores the intended behaviour; remove once either library is fixed.
"""

from __future__ import annotations

import functools
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext

_MARK = "_hmmtrade_timeout_fix"


def translate_timeout(fetch: Any) -> Any:
    @functools.wraps(fetch)
    async def fetch_with_nats_timeout(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await fetch(self, *args, **kwargs)
        except NatsTimeoutError:
            raise
        except TimeoutError as exc:
            raise NatsTimeoutError from exc

    setattr(fetch_with_nats_timeout, _MARK, True)
    return fetch_with_nats_timeout


def install_fetch_timeout_fix() -> None:
    """Idempotent: wraps ``PullSubscription.fetch`` once per process."""
    subscription = JetStreamContext.PullSubscription
    if not getattr(subscription.fetch, _MARK, False):
        subscription.fetch = translate_timeout(subscription.fetch)  # type: ignore[method-assign]
