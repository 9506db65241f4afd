"""A bare asyncio timeout from nats-py's fetch reaches FastStream as the nats-py timeout it expects."""

from __future__ import annotations

import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext

from events.natsfix import install_fetch_timeout_fix, translate_timeout


async def test_bare_timeout_becomes_the_nats_timeout() -> None:
    async def fetch(_self: object) -> list[str]:
        raise TimeoutError

    with pytest.raises(NatsTimeoutError):
        await translate_timeout(fetch)(object())


async def test_results_and_other_errors_pass_through() -> None:
    async def ok(_self: object) -> list[str]:
        return ["msg"]

    async def broken(_self: object) -> list[str]:
        raise ConnectionError("gone")

    assert await translate_timeout(ok)(object()) == ["msg"]
    with pytest.raises(ConnectionError):
        await translate_timeout(broken)(object())


def test_installing_twice_wraps_once() -> None:
    install_fetch_timeout_fix()
    first = JetStreamContext.PullSubscription.fetch
    install_fetch_timeout_fix()
    assert JetStreamContext.PullSubscription.fetch is first
