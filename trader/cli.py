"""``hmmtrade bot run`` (also ``python -m trader.cli``): one bot in the foreground.

The start-up path of every surface: the local agent spawns it, and a hosted VM's boot
entrypoint spawns it through ``python -m trader.cli`` (the bot image has no ``stack``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from trader.bars import BarDataError
from trader.checkpoint import CheckpointError
from trader.feeds import FeedError
from trader.instance import Instance, InstanceError, load_instance
from trader.runner import RunOptions, RunSummary, describe, run_instance
from trader.threads import limit_math_threads
from trader.venue import VenueError


def run_bot_command(
    config: Path, *, once: bool, max_bars: int | None, pace: float | None, max_decisions: int | None = None
) -> int:
    limit_math_threads()
    try:
        instance = load_instance(config)
        if pace is None:
            pace = float(instance.env.get("HMMTRADE_REPLAY_PACE") or 0)
        summary = asyncio.run(
            _run(instance, RunOptions(once=once, max_bars=max_bars, max_decisions=max_decisions, pace=pace))
        )
    except (InstanceError, FeedError, BarDataError, CheckpointError, VenueError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(describe(summary, instance.state_dir), file=sys.stderr)
    return 0


async def _run(instance: Instance, options: RunOptions) -> RunSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)  # finish the bar, flush, checkpoint, exit 0
    return await run_instance(instance, options, stop)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the instance YAML (bot_id + profile)")
    parser.add_argument("--once", action="store_true", help="process the bars that are due, then exit (scale-to-zero)")
    parser.add_argument("--max-bars", type=positive_int, default=None, help="take at most N new bars in this run")
    parser.add_argument(
        "--max-decisions", type=positive_int, default=None, help="stop after N decision bars (warm-up not counted)"
    )
    parser.add_argument(
        "--pace", type=float, default=None, help="decision bars per second when replaying (default 0: full speed)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trader.cli", description="Run one bot from its instance file.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    return run_bot_command(
        args.config, once=args.once, max_bars=args.max_bars, pace=args.pace, max_decisions=args.max_decisions
    )


if __name__ == "__main__":
    sys.exit(main())
