"""``hmmtrade exchange-emulator``: run the Binance-spot-compatible exchange emulator until SIGTERM.

Point a bot at it with ``HMMTRADE_EXCHANGE_URL=http://HOST:PORT`` and the same key and
secret. The test controls (``/_emulator/...``) take ``X-MBX-APIKEY: <key>`` and
``Authorization: Bearer <secret>``; see ``venues.exchange.routes``.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path


def run_exchange_emulator(
    *,
    host: str,
    port: int,
    api_key: str,
    api_secret: str,
    data_dir: Path | None,
    source: str,
    speed: float,
    start: datetime | None,
    seed: int,
    balance: float,
) -> int:
    from venues.exchange import ExchangeEmulator

    emulator = ExchangeEmulator(
        api_key=api_key,
        api_secret=api_secret,
        host=host,
        port=port,
        data_dir=data_dir,
        source=source,
        speed=speed,
        start=start,
        seed=seed,
        balance=balance,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    emulator.start()
    kept = f"state in {data_dir}" if data_dir is not None else "state in memory only"
    clock = f"clock {emulator.clock.now():%Y-%m-%d %H:%M}Z at {emulator.clock.speed:g}x"
    print(f"exchange emulator on {emulator.url} (Binance spot; {source} prices, {clock}; {kept})", flush=True)
    stop.wait()
    emulator.stop()
    return 0


def iso_datetime(text: str) -> datetime:
    """``--start``: ISO 8601; a naive time or a bare date is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
