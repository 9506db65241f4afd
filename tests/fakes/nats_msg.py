"""A hand-written stand-in for a JetStream delivery, for unit tests of settle()."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class FakeDelivery:
    subject: str = "intents.bot.create"
    data: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Nats-Msg-Id": "m-1"})
    num_delivered: int = 1
    stream_seq: int = 7
    settled: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(
            num_delivered=self.num_delivered,
            stream="INTENTS",
            sequence=SimpleNamespace(stream=self.stream_seq, consumer=self.num_delivered),
        )

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))


class RecordingBus:
    """Records publish_raw calls the way events.bus.Bus would send them."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish_raw(self, subject: str, payload: bytes, *, headers: dict[str, str]) -> None:
        self.published.append((subject, payload, dict(headers)))
