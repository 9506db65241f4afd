"""Boot runs the trader in its own process: its output still reaches ``bots.<id>.log`` line by line
(what boot said before the bus was up included), and its credentials leave what /proc shows."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import textwrap
import uuid
from typing import Any, cast

import pytest

from events.bus import Bus
from fly.boot import BootRefused, LogTee, all_or_refused, say, teeing, wind_down


class RecordingBus:
    """A connected bus that keeps what is published."""

    is_connected = True

    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    async def publish(self, subject: str, message: Any) -> None:
        self.published.append((subject, message))


async def test_lines_said_before_the_bus_is_up_are_published_once_it_is_in_order_and_whole() -> None:
    bot_id = uuid.uuid4()
    tee = LogTee(bot_id)
    out, err = io.StringIO(), io.StringIO()
    tee_out, tee_err = tee.stream(out, "stdout"), tee.stream(err, "stderr")
    tee_out.write("first line\nsecond ")
    tee_err.write("a warning\n")
    bus = RecordingBus()
    pump = asyncio.create_task(tee.pump())
    tee.attach(cast(Bus, bus))
    tee_out.write("half\n")
    tee_out.write("no newline yet")
    async with asyncio.timeout(5):
        while len(bus.published) < 3:
            await asyncio.sleep(0.01)
    pump.cancel()
    assert [(m.stream, m.line) for _, m in bus.published] == [
        ("stdout", "first line"),
        ("stderr", "a warning"),
        ("stdout", "second half"),
    ]
    assert {subject for subject, _ in bus.published} == {f"bots.{bot_id}.log"}
    assert out.getvalue() == "first line\nsecond half\nno newline yet" and err.getvalue() == "a warning\n"


class DeafBus(RecordingBus):
    """A bus whose publishes and close never end; a publish shrugs off its first cancel (a lost cancel)."""

    async def publish(self, subject: str, message: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.Event().wait()  # the next cancel (the test loop's clean-up) ends it

    async def close(self) -> None:
        await asyncio.Event().wait()


async def test_winding_down_publishes_the_last_lines_and_ends_the_pump_without_a_cancel() -> None:
    tee = LogTee(uuid.uuid4())
    bus = RecordingBus()
    pump = asyncio.create_task(tee.pump())
    tee.attach(cast(Bus, bus))
    with teeing(tee):
        say("trader exited with 0")
    await wind_down(tee, pump, None)
    assert pump.done() and not pump.cancelled()
    assert [m.line.rpartition("] ")[2] for _, m in bus.published] == ["trader exited with 0"]


async def test_a_bus_that_never_answers_does_not_keep_a_finished_bot_alive() -> None:
    """A machine stays up while its main process lives: wind-down must end whatever the bus does."""
    tee = LogTee(uuid.uuid4())
    bus = DeafBus()
    pump = asyncio.create_task(tee.pump())
    tee.attach(cast(Bus, bus))
    tee.offer("stderr", "why it exited")
    async with asyncio.timeout(30):  # a guard for a hang, not a timing: wind-down allows 0.1 s a step
        await wind_down(tee, pump, cast(Bus, bus), timeout_s=0.1)


async def test_print_and_say_go_through_the_tee_while_teeing_and_not_after(capsys: Any) -> None:
    tee = LogTee(uuid.uuid4())
    bus = RecordingBus()
    tee.attach(cast(Bus, bus))
    with teeing(tee):
        say("machine token received")
        print("seq=1 a decision")
    print("after")
    await tee.publish_pending()
    lines = [m.line for _, m in bus.published]
    assert len(lines) == 2 and lines[0].startswith("boot: [") and lines[0].endswith("s] machine token received")
    assert lines[1] == "seq=1 a decision"
    assert "after" in capsys.readouterr().out


def test_forgetting_the_credentials_removes_them_from_the_environment_and_from_proc() -> None:
    secret = "eyJ" + uuid.uuid4().hex
    script = textwrap.dedent(
        """
        import os
        from pathlib import Path
        from fly.boot import forget_boot_credentials
        forget_boot_credentials()
        shown = Path("/proc/self/environ").read_bytes()
        print(repr(shown))
        print("SECRET" in os.environ or "HMMTRADE_MACHINE_TOKEN" in os.environ or "NATS_CREDS" in os.environ)
        """
    )
    env = {
        **os.environ,
        "HMMTRADE_MACHINE_TOKEN": secret,
        "HMMTRADE_MACHINE_BOOTSTRAP": "bootstrap-" + secret,
        "NATS_CREDS": "/somewhere/inherited.creds",
        "KEEP_ME": "visible",
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    shown, still_in_os_environ = result.stdout.strip().splitlines()
    assert secret not in shown and "HMMTRADE_MACHINE" not in shown and "inherited.creds" not in shown
    assert "KEEP_ME=visible" in shown, "read the wrong process"
    assert still_in_os_environ == "False"


async def test_calls_made_side_by_side_answer_in_order_and_a_refusal_stops_the_others() -> None:
    async def answer(value: str) -> str:
        await asyncio.sleep(0)
        return value

    assert await all_or_refused(answer("profile"), answer("broker token")) == ["profile", "broker token"]

    cancelled = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async def refused() -> None:
        raise BootRefused("GET /api/v1/internal/bots/x -> 404: bot not found")

    with pytest.raises(BootRefused, match="404"):
        await all_or_refused(waits_forever(), refused())
    assert cancelled.is_set()
