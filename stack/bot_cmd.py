"""``hmmtrade bot run``: one bot in the foreground, the start-up path of every surface."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from trader.bars import BarDataError
from trader.checkpoint import CheckpointError
from trader.feeds import FeedError
from trader.instance import Instance, InstanceError, load_instance
from trader.runner import RunOptions, RunSummary, describe, run_instance


def run_bot_command(config: Path, *, once: bool, max_bars: int | None, pace: float | None) -> int:
    try:
        instance = load_instance(config)
        if pace is None:
            pace = float(instance.env.get("HMMTRADE_REPLAY_PACE") or 0)
        summary = asyncio.run(_run(instance, RunOptions(once=once, max_bars=max_bars, pace=pace)))
    except (InstanceError, FeedError, BarDataError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe(summary, instance.state_dir), file=sys.stderr)
    return 0


async def _run(instance: Instance, options: RunOptions) -> RunSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # finish the bar, flush, checkpoint, exit 0
    return await run_instance(instance, options, stop)
