"""Benchmark: bar close -> order acknowledged for live bots on one Alpaca emulator, against the
raw alpaca-py ``submit_order`` round trip to the same emulator, same run; and the emulator's own
order throughput.

One emulator (its own process, frozen clock, synthetic 5m crypto bars, state on disk) serves
every row. For each fleet size, that many real live runners (``trader.runner.run_instance``,
``data_source: broker``, a symbol each) start as asyncio tasks in this process, backfill and
fit, and then the driver closes ``--bars`` bars one at a time: it notes the time, advances the
emulator's clock by one bar, and waits until every bot is polling for the next bar again.

    bar close        the wall time just before the advance request (the clock passes the
                     bar's end while that request is handled; its round trip is printed)
    acknowledged     the wall time the bot's ``AlpacaVenue.submit`` returned with the
                     venue's answer, i.e. when the bot knew its order was accepted

Between the two: the bot's next poll (``HMMTRADE_LIVE_POLL_S``) of the venue clock and bars,
the lookup of the previous bar's order for fills, the engine, the clock request, the order
journal's fsync and the order POST, each alpaca-py call in a worker thread.

    ./dev bench live [--bots 1 10 50] [--bars 10] [--poll 0.05] [--raw 100]
                     [--clients 1 4 16] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from bench.live_fleet import KEY, SECRET, order_count, run_fleet, start_emulator, symbols
from trader.threads import limit_math_threads

RAW_SYMBOL, LOAD_SYMBOL = "BTC/USD", "ETH/USD"  # not traded by any bot


@dataclass
class Row:
    label: str
    bots: int
    bars: int
    samples: list[float]  # ms, bar close -> acknowledged (raw: the round trip)
    startup_s: float | None = None
    seen_ms: list[float] | None = None  # bar close -> the bot's poll returned the new bar
    decide_ms: list[float] | None = None  # bar seen -> submit called (fills lookup, engine, clock, fsync)
    submit_ms: list[float] | None = None  # the submit call alone, inside the bots
    advance_ms: list[float] | None = None
    raw_ms: list[float] | None = None  # the baseline, measured just before this fleet on the same emulator
    held: int = 0  # orders the emulator held when this row started (it persists them all on every change)
    failed: int = 0  # submits that raised inside the bots


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _client(url: str) -> TradingClient:
    return TradingClient(KEY, SECRET, paper=True, url_override=url)


def _order(client_order_id: str, symbol: str) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol=symbol, qty=0.0001, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, client_order_id=client_order_id
    )


def raw_round_trips(url: str, count: int, tag: str) -> list[float]:
    """One alpaca-py client, one order at a time (ms): the floor any bot's submit stands on."""
    client = _client(url)
    for i in range(3):  # connection set-up
        client.submit_order(_order(f"raw-{tag}-warm-{i}", RAW_SYMBOL))
    samples = []
    for i in range(count):
        started = time.perf_counter()
        client.submit_order(_order(f"raw-{tag}-{i}", RAW_SYMBOL))
        samples.append(1000 * (time.perf_counter() - started))
    return samples


def fleet_row(root: Path, url: str, count: int, bars: int, poll_s: float, prefix: str, raw: int) -> Row:
    """One fleet's orders after the first bar close, split into: bar seen, decided and sent, acknowledged.

    The raw baseline is taken first, on the emulator as it is now: it writes its whole state
    (every order so far) on each change, so its answers slow down as orders accumulate.
    """
    held = order_count(url)
    baseline = raw_round_trips(url, raw, prefix)
    run = asyncio.run(run_fleet(root / prefix, url, symbols(count, prefix), bars, poll_s))
    starts = [close.sent for close in run.closes]
    label = f"{count} bot{'s' if count > 1 else ''}"
    advances = [1000 * (c.answered - c.sent) for c in run.closes]
    row = Row(label, count, bars, [], run.startup_s, [], [], [], advances, baseline, held, run.failed)
    for ack in run.acks:
        bar = bisect.bisect_right(starts, ack.sent) - 1
        if bar < 0:
            continue  # decided on warm-up bars, before the bench closed any
        row.samples.append(1000 * (ack.acked - starts[bar]))
        row.seen_ms.append(1000 * (ack.seen - starts[bar]))  # type: ignore[union-attr]
        row.decide_ms.append(1000 * (ack.sent - ack.seen))  # type: ignore[union-attr]
        row.submit_ms.append(1000 * (ack.acked - ack.sent))  # type: ignore[union-attr]
    return row


@dataclass
class Load:
    clients: int
    held: int
    orders_per_s: float
    errors: int


def throughput(url: str, clients: int, seconds: float) -> Load:
    """Orders/s accepted from ``clients`` threads, each with its own alpaca-py client."""
    held = order_count(url)
    accepted, errors = [0] * clients, [0] * clients
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        client = _client(url)
        start.wait()
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            try:
                client.submit_order(_order(f"load-{clients}-{index}-{n}", LOAD_SYMBOL))
                accepted[index] += 1
            except (APIError, requests.RequestException):
                errors[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return Load(clients, held, sum(accepted) / (time.perf_counter() - began), sum(errors))


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(rows: list[Row], loads: tuple[str, str], poll_s: float, load: list[Load]) -> None:
    print(
        f"live: bar close -> order acknowledged on one Alpaca emulator (own process); bots are asyncio "
        f"tasks in one process; 5m crypto bars, poll {poll_s:g} s; {os.cpu_count()} CPUs, "
        f"load average {loads[0]} -> {loads[1]}"
    )
    print(
        f"{'bots':>5}{'bars':>5}{'orders':>7}{'held':>6}{'start s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'raw p50':>9}{'raw p99':>9}{'x raw p50':>10}{'x raw p99':>10}"
        f"  {'p50 ms: seen':>12}{'decide':>8}{'submit':>8}"
    )
    for row in rows:
        raw = row.raw_ms or []
        parts = "".join(f"{_pct(part or [], 50):>8.2f}" for part in (row.decide_ms, row.submit_ms))
        print(
            f"{row.bots:>5}{row.bars:>5}{len(row.samples):>7}{row.held:>6}{row.startup_s or 0:>8.1f}"
            f"{_pct(row.samples, 50):>9.2f}{_pct(row.samples, 99):>9.2f}{max(row.samples, default=float('nan')):>9.2f}"
            f"{_pct(raw, 50):>9.2f}{_pct(raw, 99):>9.2f}"
            f"{_pct(row.samples, 50) / _pct(raw, 50):>10.1f}{_pct(row.samples, 99) / _pct(raw, 99):>10.1f}"
            f"  {_pct(row.seen_ms or [], 50):>12.2f}{parts}"
        )
    advances = [ms for row in rows for ms in row.advance_ms or []]
    print(f"submits that failed inside the bots: {', '.join(str(row.failed) for row in rows)} (per row)")
    print(
        f"bar close = just before the advance request; that request took p50 {_pct(advances, 50):.2f} ms, "
        f"max {max(advances, default=float('nan')):.2f} ms (it also fills the last bar's orders and saves the state)"
    )
    print("emulator throughput: alpaca-py clients as threads of one process, market orders")
    print(f"{'clients':>8}{'held':>7}{'orders/s':>10}{'errors':>8}")
    for item in load:
        print(f"{item.clients:>8}{item.held:>7}{item.orders_per_s:>10.1f}{item.errors:>8}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bots", type=int, nargs="+", default=[1, 10, 50], help="fleet sizes, one row each")
    parser.add_argument("--bars", type=int, default=10, help="bars closed per fleet")
    parser.add_argument("--poll", type=float, default=0.05, help="HMMTRADE_LIVE_POLL_S of every bot")
    parser.add_argument("--raw", type=int, default=100, help="raw submit_order round trips before each fleet")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="throughput client threads")
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput row")
    parser.add_argument("--out", type=Path, default=Path("bench/results/live.json"))
    args = parser.parse_args(argv)
    limit_math_threads()  # as the bot runner does
    load_start = _load()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        prefixes = [f"B{chr(ord('A') + i)}" for i in range(len(args.bots))]  # fresh symbols per row
        extra = [name for count, prefix in zip(args.bots, prefixes, strict=True) for name in symbols(count, prefix)]
        emulator = start_emulator(root / "alpaca", extra)
        try:
            rows = [
                fleet_row(root, emulator.url, count, args.bars, args.poll, prefix, args.raw)
                for count, prefix in zip(args.bots, prefixes, strict=True)
            ]
            load = [throughput(emulator.url, clients, args.seconds) for clients in args.clients]
            orders = order_count(emulator.url)
        finally:
            emulator.stop()
    loads = (load_start, _load())
    print_table(rows, loads, args.poll, load)
    print(f"orders held by the emulator at the end: {orders}")
    _write(args.out, rows, loads, args.poll, load)


def _write(out: Path, rows: list[Row], loads: tuple[str, str], poll_s: float, load: list[Load]) -> None:
    result: dict[str, Any] = {
        "load_average": {"start": loads[0], "end": loads[1]},
        "poll_s": poll_s,
        "rows": [{**asdict(row), "p50_ms": _pct(row.samples, 50), "p99_ms": _pct(row.samples, 99)} for row in rows],
        "throughput": [asdict(item) for item in load],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
