"""Benchmark: what running as a bot costs over the bare engine, same bars, same run.

The baseline is ``trader.backtest.run`` (the engine alone, in memory). Against it: the bot
runner with file checkpoints and the JSONL audit (a local bot), and with a bus as well
(audit through the disk outbox to JetStream, ticks, checkpoints mirrored to KV: a hosted
bot). Every row processes the same bars with the same profile; the runner rows also
fsync a checkpoint after every decision.

    ./dev bench runner [--bars 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.localbus import start_admin_bus
from contracts.profile import BotProfile
from events.bus import Bus
from events.topology import ensure_topology
from trader import backtest
from trader.bars import load_bundled, load_file, write_csv
from trader.config import engine_config
from trader.instance import load_instance, write_instance
from trader.runner import RunOptions, run_instance

PROFILE: dict[str, Any] = {
    "basics": {"name": "Bench bot", "surface": "local", "mode": "paper"},
    "market": {"symbols": ["SPX"], "data_source": "file", "data_file": "bars.csv"},
    "model": {"n_states": 3, "features": ["log_return", "realized_vol"], "training_window": 504, "refit_every": 21},
    "strategy": {"exposure_per_regime": [0.0, 0.5, 1.0], "max_drawdown_pct": 60, "max_daily_loss_pct": 20},
    "schedule": {"confirmed": True},
}


def _profile(data: Path) -> BotProfile:
    return BotProfile.model_validate({**PROFILE, "market": {**PROFILE["market"], "data_file": str(data)}})


async def _runner(home: Path, data: Path, nats_url: str | None) -> tuple[float, int]:
    bot_id = uuid.uuid4()
    profile = _profile(data)
    config = write_instance(home, bot_id, profile)
    instance = load_instance(config, environ={"NATS_URL": nats_url} if nats_url else {})
    started = time.perf_counter()
    # drain_timeout: the run includes delivering every audit record; the per-bar lines go nowhere
    summary = await run_instance(instance, RunOptions(drain_timeout_s=60), out=io.StringIO())
    return time.perf_counter() - started, summary.decisions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "bars.csv"
        write_csv(load_bundled("sp500").head(args.bars), data)
        bars = load_file(data)
        profile = _profile(data)
        started = time.perf_counter()
        result = backtest.run(engine_config(profile, bot_id="bench"), bars)
        rows = [("engine alone (backtest)", time.perf_counter() - started, len(result.records))]
        rows.append(("runner, file checkpoints", *asyncio.run(_runner(root / "local", data, None))))
        server = start_admin_bus(root / "nats")
        try:

            async def with_bus() -> tuple[float, int]:
                bus = Bus(server.url, name="bench")
                await bus.start(wait_s=5)
                await ensure_topology(bus.js)
                await bus.close()
                return await _runner(root / "hosted", data, server.url)

            rows.append(("runner + bus, outbox, KV", *asyncio.run(with_bus())))
        finally:
            server.stop()
    baseline = rows[0][1]
    print(f"{args.bars} S&P 500 bars, K=3, 504-bar window, refit every 21 bars")
    print(f"{'':<26}{'wall s':>8}{'decisions':>11}{'bars/s':>9}{'ms/decision':>13}{'x engine':>10}")
    for label, seconds, decisions in rows:
        print(
            f"{label:<26}{seconds:>8.2f}{decisions:>11}{args.bars / seconds:>9.0f}"
            f"{1000 * seconds / max(1, decisions):>13.2f}{seconds / baseline:>10.2f}"
        )


if __name__ == "__main__":
    main()
