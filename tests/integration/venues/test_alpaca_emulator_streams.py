"""The Alpaca emulator's streams, through alpaca-py's StockDataStream, CryptoDataStream and TradingStream."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import msgpack
import pytest
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from alpaca.trading.stream import TradingStream
from websockets.sync.client import connect

from tests.integration.venues.alpaca_fixtures import KEY, SECRET, control, emulator, trading, until
from venues.alpaca import AlpacaEmulator


@pytest.fixture
def emu() -> Iterator[AlpacaEmulator]:
    with emulator() as running:
        yield running


class Running:
    """An SDK stream running in its own thread (``run()`` owns an event loop), collecting what arrives."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.received: list[Any] = []
        self.thread = threading.Thread(target=stream.run, daemon=True)

    async def collect(self, item: Any) -> None:
        self.received.append(item)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        until(lambda: getattr(self.stream, "_loop", None) is not None, what="the stream's loop")
        self.stream.stop()
        self.thread.join(timeout=10)


def connected(emu: AlpacaEmulator, kind: str) -> bool:
    return emu._streams.get(kind, 0) == 1


def test_stock_bars_arrive_as_they_close_and_twice_when_duplicated(emu: AlpacaEmulator) -> None:
    run = Running(StockDataStream(KEY, SECRET, url_override=emu.ws_url("/v2/iex")))
    run.stream.subscribe_bars(run.collect, "SPY")
    with run:
        until(lambda: connected(emu, "stocks"), what="the stream to authenticate")
        until(lambda: control(emu, "POST", "advance", {"seconds": 60}) and run.received, what="a bar")
        first = run.received[-1]
        assert first.symbol == "SPY"
        want = emu.market.bars("SPY", timedelta(minutes=1), first.timestamp)[0]
        assert (first.open, first.close, first.timestamp) == (want.open, want.close, want.start)
        control(emu, "POST", "faults", {"stream_duplicate": True})
        control(emu, "POST", "advance", {"seconds": 60})
        # the bar that just closed; bars of earlier advances may still be arriving, so count this one only
        closed = emu.clock.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
        until(lambda: sum(bar.timestamp == closed for bar in run.received) >= 2, what="the duplicated bar")
        twins = [bar for bar in run.received if bar.timestamp == closed]
        assert twins[0] == twins[1]


def test_crypto_bars_stream_and_a_dropped_stream_reconnects(emu: AlpacaEmulator) -> None:
    run = Running(CryptoDataStream(KEY, SECRET, url_override=emu.ws_url("/v1beta3/crypto/us")))
    run.stream.subscribe_bars(run.collect, "BTC/USD")
    with run:
        until(lambda: connected(emu, "crypto"), what="the stream to authenticate")
        control(emu, "POST", "faults", {"stream_drop": True})
        until(lambda: control(emu, "POST", "advance", {"seconds": 60}) and run.received, what="a bar")
        count = len(run.received)
        until(
            lambda: control(emu, "POST", "advance", {"seconds": 60}) and len(run.received) > count,
            what="bars after the reconnect",
        )
        assert all(bar.symbol == "BTC/USD" for bar in run.received)


def raw_auth(emu: AlpacaEmulator, key: str, secret: str) -> tuple[Any, list[dict[str, Any]]]:
    ws = connect(emu.ws_url("/v2/sip"))
    assert msgpack.unpackb(ws.recv()) == [{"T": "success", "msg": "connected"}]
    ws.send(msgpack.packb({"action": "auth", "key": key, "secret": secret}))
    return ws, msgpack.unpackb(ws.recv())


def test_one_data_connection_per_key_and_wrong_keys_are_refused(emu: AlpacaEmulator) -> None:
    first, reply = raw_auth(emu, KEY, SECRET)
    assert reply == [{"T": "success", "msg": "authenticated"}]
    second, refused = raw_auth(emu, KEY, SECRET)
    assert refused == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
    second.close()
    first.close()
    until(lambda: not connected(emu, "stocks"), what="the slot to free up")
    stream = StockDataStream(KEY, "wrong", url_override=emu.ws_url("/v2/iex"))

    async def handshake() -> None:
        await stream._connect()  # the SDK's own handshake (private: run() would just retry forever)
        try:
            await stream._auth()
        finally:
            await stream.close()

    with pytest.raises(ValueError, match="auth failed"):
        asyncio.run(handshake())


def test_trade_updates_stream_the_order_events(emu: AlpacaEmulator) -> None:
    run = Running(TradingStream(KEY, SECRET, paper=True, url_override=emu.ws_url("/stream")))
    run.stream.subscribe_trade_updates(run.collect)
    with run:
        until(lambda: emu.trade_update_listeners == 1, what="the listener")
        trading(emu).submit_order(
            MarketOrderRequest(
                symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id="t1"
            )
        )
        until(lambda: [u.event for u in run.received] == ["new", "fill"], what="new and fill")
        fill = run.received[-1]
        assert fill.order.client_order_id == "t1" and float(fill.qty) == 2 and float(fill.position_qty) == 2


def test_trade_updates_refuse_wrong_keys(emu: AlpacaEmulator) -> None:
    stream = TradingStream(KEY, "wrong", paper=True, url_override=emu.ws_url("/stream"))

    async def handshake() -> None:
        await stream._connect()
        try:
            await stream._auth()
        finally:
            await stream._ws.close()

    with pytest.raises(ValueError, match="failed to authenticate"):
        asyncio.run(handshake())
