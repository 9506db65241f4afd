"""The Alpaca emulator's REST side, driven through the real alpaca-py clients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetCalendarRequest, GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from tests.integration.venues.alpaca_fixtures import (
    MID_SESSION,
    control,
    crypto_data,
    emulator,
    stock_data,
    trading,
    until,
)
from venues.alpaca import AlpacaEmulator


@pytest.fixture
def emu() -> Iterator[AlpacaEmulator]:
    with emulator() as running:
        yield running


def market(
    symbol: str, qty: float, side: OrderSide = OrderSide.BUY, cid: str | None = None, tif: TimeInForce = TimeInForce.DAY
) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif, client_order_id=cid)


def test_account_clock_calendar_and_assets_parse(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    account = client.get_account()
    assert account.cash == "100000" and account.equity == "100000" and account.status == "ACTIVE"
    clock = client.get_clock()
    assert clock.is_open and clock.timestamp == MID_SESSION
    assert clock.next_close == MID_SESSION.replace(hour=20)
    days = client.get_calendar(GetCalendarRequest(start=date(2026, 3, 13), end=date(2026, 3, 16)))
    assert [(d.date, d.open.hour, d.open.minute, d.close.hour) for d in days] == [
        (date(2026, 3, 13), 9, 30, 16),
        (date(2026, 3, 16), 9, 30, 16),
    ]
    assert client.get_asset("SPY").tradable and client.get_asset("BTC/USD").asset_class == "crypto"
    with pytest.raises(APIError) as missing:
        client.get_asset("NOPE")
    assert missing.value.status_code == 404


def test_market_orders_fill_and_positions_equal_the_fills(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    client.submit_order(market("SPY", 3, cid="buy-1"))
    client.submit_order(market("SPY", 1, OrderSide.SELL, cid="sell-1"))
    client.submit_order(market("BTC/USD", 0.5, cid="btc-1", tif=TimeInForce.GTC))
    filled = {
        cid: until(lambda cid=cid: (o := client.get_order_by_client_id(cid)).status == "filled" and o, what=cid)
        for cid in ("buy-1", "sell-1", "btc-1")
    }
    spent = sum(
        float(o.filled_qty) * float(o.filled_avg_price) * (1 if o.side == OrderSide.BUY else -1)
        for o in filled.values()
    )
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert float(positions["SPY"].qty) == 2 and float(positions["BTCUSD"].qty) == 0.5
    assert client.get_open_position("BTCUSD").asset_class == "crypto"
    account = client.get_account()
    assert float(account.cash) == pytest.approx(100_000 - spent)
    marked = sum(float(p.market_value) for p in positions.values())
    assert float(account.equity) == pytest.approx(float(account.cash) + marked)
    assert len(client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))) == 3


def test_a_short_sale_makes_a_negative_position(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    client.submit_order(market("AAPL", 4, OrderSide.SELL, cid="short"))
    until(lambda: client.get_order_by_client_id("short").status == "filled")
    position = client.get_open_position("AAPL")
    assert float(position.qty) == -4 and position.side == "short"


def test_limit_orders_fill_when_crossed_and_day_orders_expire(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    now = emu.clock.now()
    ahead = [emu.market.price("SPY", now + timedelta(minutes=m)) for m in range(1, 61)]
    price = emu.market.price("SPY")
    marketable = client.submit_order(
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=round(price + 5, 2)
        )
    )
    resting = client.submit_order(
        LimitOrderRequest(
            symbol="SPY",
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=round(min(ahead) + 0.01, 2),
        )
    )
    never = client.submit_order(
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, limit_price=round(price * 3, 2)
        )
    )
    done = until(lambda: (o := client.get_order_by_id(marketable.id)).status == "filled" and o)
    assert float(done.filled_avg_price) == pytest.approx(price)
    assert client.get_order_by_id(resting.id).status == "new"
    control(emu, "POST", "advance", {"seconds": 3600})
    crossed = client.get_order_by_id(resting.id)
    assert crossed.status == "filled" and float(crossed.filled_avg_price) == pytest.approx(round(min(ahead) + 0.01, 2))
    assert client.get_order_by_id(never.id).status == "new"
    control(emu, "POST", "advance", {"seconds": 6 * 3600})  # past the 20:00 UTC close
    assert client.get_order_by_id(never.id).status == "expired"


def test_an_opg_order_placed_during_a_session_fills_at_the_next_open(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    order = client.submit_order(market("SPY", 1, cid="opg", tif=TimeInForce.OPG))
    control(emu, "POST", "advance", {"seconds": 3600})
    assert client.get_order_by_id(order.id).status == "accepted"
    control(emu, "POST", "advance", {"seconds": 22 * 3600})  # Wednesday 13:00 UTC -> opens 13:30
    control(emu, "POST", "advance", {"seconds": 3600})
    filled = client.get_order_by_id(order.id)
    assert filled.status == "filled"
    assert float(filled.filled_avg_price) == pytest.approx(emu.market.session_open_price("SPY", date(2026, 3, 11)))


def test_cancel_and_the_venues_refusals(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    order = client.submit_order(
        LimitOrderRequest(
            symbol="SPY",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=1.0,
            client_order_id="c1",
        )
    )
    client.cancel_order_by_id(order.id)
    assert client.get_order_by_id(order.id).status == "canceled"
    with pytest.raises(APIError) as reused:
        client.submit_order(market("SPY", 1, cid="c1"))
    assert (reused.value.status_code, reused.value.code) == (422, 40010001)
    assert reused.value.message == "client_order_id must be unique"
    with pytest.raises(APIError) as poor:
        client.submit_order(market("SPY", 1_000_000))
    assert (poor.value.status_code, poor.value.code, poor.value.message) == (403, 40310000, "insufficient buying power")
    with pytest.raises(APIError) as crypto_day:
        client.submit_order(market("BTC/USD", 1, tif=TimeInForce.DAY))
    assert crypto_day.value.status_code == 422
    with pytest.raises(APIError) as unknown:
        client.submit_order(market("NOPE", 1))
    assert unknown.value.status_code == 422
    with pytest.raises(APIError) as no_such:
        client.get_order_by_client_id("never-sent")
    assert no_such.value.status_code == 404


def test_wrong_or_missing_keys_are_refused(emu: AlpacaEmulator) -> None:
    with pytest.raises(APIError) as refused:
        trading(emu, secret="wrong").get_account()
    assert (refused.value.status_code, refused.value.code) == (401, 40110000)
    assert refused.value.message == "request is not authorized"
    import httpx

    assert httpx.post(f"{emu.url}/_emulator/advance", json={"seconds": 60}).status_code == 401
    assert emu.clock.now() == MID_SESSION


def test_a_429_storm_is_retried_by_the_sdk(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    control(emu, "POST", "faults", {"http_429": 2})
    assert client.get_account().status == "ACTIVE"
    seen = [r for r in control(emu, "GET", "requests")["requests"] if r["path"] == "/v2/account"]  # type: ignore[union-attr]
    assert [r["status"] for r in seen] == [429, 429, 200]
    control(emu, "POST", "faults", {"http_429": 10})
    with pytest.raises(APIError) as limited:
        client.get_account()
    assert limited.value.status_code == 429
    seen = [r for r in control(emu, "GET", "requests")["requests"] if r["path"] == "/v2/account"]  # type: ignore[union-attr]
    assert len(seen) == 3 + 4  # the SDK's 3 retries


def test_an_order_accepted_then_answered_504_exists_exactly_once(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    control(emu, "POST", "faults", {"accept_then_504": 1})
    with pytest.raises(APIError) as retried:
        client.submit_order(market("SPY", 1, cid="lost-answer"))
    assert retried.value.code == 40010001  # the SDK resent the POST that had landed
    assert client.get_order_by_client_id("lost-answer").symbol == "SPY"
    orders = control(emu, "GET", "orders")["orders"]
    assert [o["client_order_id"] for o in orders].count("lost-answer") == 1  # type: ignore[union-attr]


def test_partial_fills_add_up(emu: AlpacaEmulator) -> None:
    client = trading(emu)
    control(emu, "POST", "faults", {"partial_fills": 3})
    order = client.submit_order(market("SPY", 3, cid="parts"))
    first = until(lambda: (o := client.get_order_by_id(order.id)).status == "partially_filled" and o)
    assert float(first.filled_qty) == 1
    prices = [float(first.filled_avg_price)]
    for filled in (2, 3):
        control(emu, "POST", "advance", {"seconds": 60})
        step = client.get_order_by_id(order.id)
        assert float(step.filled_qty) == filled
        prices.append(emu.market.price("SPY"))
    assert step.status == "filled"
    assert float(step.filled_avg_price) == pytest.approx(sum(prices) / 3)
    assert float(client.get_open_position("SPY").qty) == 3


def test_a_position_set_behind_the_bots_back_shows(emu: AlpacaEmulator) -> None:
    control(emu, "POST", "positions", {"symbol": "TSLA", "qty": 7, "avg_entry_price": 100})
    position = trading(emu).get_open_position("TSLA")
    assert (position.qty, position.avg_entry_price) == ("7", "100")


def test_bars_page_and_agree_across_timeframes() -> None:
    with emulator(page_size=100) as emu:
        data = stock_data(emu)
        start = MID_SESSION - timedelta(days=7)
        five = data.get_stock_bars(
            StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame(5, TimeFrameUnit.Minute), start=start)
        )["SPY"]
        pages = [r for r in control(emu, "GET", "requests")["requests"] if r["path"] == "/v2/stocks/bars"]  # type: ignore[union-attr]
        assert len(five) > 200 and len(pages) == len(five) // 100 + 1
        want = emu.market.bars("SPY", timedelta(minutes=5), start)
        assert [(b.timestamp, b.open, b.close) for b in five] == [(w.start, w.open, w.close) for w in want]
        hours = data.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Hour, start=start))[
            "SPY"
        ]
        for hour in hours:
            inside = [b for b in five if hour.timestamp <= b.timestamp < hour.timestamp + timedelta(hours=1)]
            assert (hour.open, hour.close) == (inside[0].open, inside[-1].close)
            assert hour.high == max(b.high for b in inside) and hour.low == min(b.low for b in inside)
        days = data.get_stock_bars(
            StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Day, start=start - timedelta(days=4000))
        )["SPY"]
        assert len(days) > 2000 and days[-1].timestamp == MID_SESSION.replace(day=9, hour=13, minute=30)
        pairs = crypto_data(emu).get_crypto_bars(
            CryptoBarsRequest(symbol_or_symbols=["BTC/USD", "ETH/USD"], timeframe=TimeFrame.Hour, start=start)
        )
        assert len(pairs["BTC/USD"]) == len(pairs["ETH/USD"]) == 7 * 24


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with emulator(tmp_path) as first:
        client = trading(first)
        client.submit_order(market("SPY", 2, cid="before-restart"))
        until(lambda: client.get_order_by_client_id("before-restart").status == "filled")
        control(first, "POST", "advance", {"seconds": 120})
        cash = client.get_account().cash
    with emulator(tmp_path) as second:
        client = trading(second)
        assert second.clock.now() == MID_SESSION + timedelta(seconds=120)
        assert client.get_order_by_client_id("before-restart").status == "filled"
        assert float(client.get_open_position("SPY").qty) == 2 and client.get_account().cash == cash
        with pytest.raises(APIError) as reused:
            client.submit_order(market("SPY", 1, cid="before-restart"))
        assert reused.value.code == 40010001
