"""``hmmtrade alpaca-emulator``: run the local Alpaca (trading, market data, both streams) on one port."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path


def run_alpaca_emulator(
    *,
    host: str,
    port: int,
    key_id: str,
    secret_key: str,
    data_dir: Path | None,
    source: str,
    speed: float,
    start: str | None,
    seed: int,
    cash: float,
) -> int:
    from venues.alpaca import AlpacaEmulator

    begin = None
    if start:
        begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
        begin = begin if begin.tzinfo else begin.replace(tzinfo=UTC)
    emulator = AlpacaEmulator(
        key_id=key_id,
        secret_key=secret_key,
        host=host,
        port=port,
        data_dir=data_dir,
        source=source,
        speed=speed,
        start=begin,
        seed=seed,
        cash=cash,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    state = f"state in {data_dir}" if data_dir else "in memory"
    print(
        f"alpaca emulator on {emulator.url} (source {source}, sim time {emulator.clock.now().isoformat()}, "
        f"speed {speed:g}, {state}; streams {emulator.ws_url('/v2/iex')}, {emulator.ws_url('/stream')})",
        flush=True,
    )
    stop.wait()
    emulator.stop()
    return 0
