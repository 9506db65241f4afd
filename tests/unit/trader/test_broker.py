"""The paper broker fills at the next open with costs, and refuses an order id it has seen."""

from __future__ import annotations

import pytest

from trader.broker import DuplicateOrder, Order, PaperBroker, client_order_id


def test_order_fills_at_the_next_open_with_slippage_and_commission() -> None:
    broker = PaperBroker(cash=10_000, slippage_bps=10, commission_bps=5)
    oid = client_order_id("bot-1", "2020-01-02", "SPY")
    broker.submit(Order(oid, "SPY", "buy", 10, "2020-01-02"))
    assert broker.position == 0, "nothing fills at the bar that placed the order"
    [fill] = broker.fill_pending(100.0, "2020-01-03")
    assert fill.price == pytest.approx(100.1) and fill.commission == pytest.approx(1001 * 5 / 10_000)
    assert broker.position == 10
    assert broker.cash == pytest.approx(10_000 - 1001 - fill.commission)
    assert broker.equity(110.0) == pytest.approx(broker.cash + 1100)


def test_the_same_client_order_id_is_refused() -> None:
    broker = PaperBroker(cash=10_000)
    oid = client_order_id("bot-1", "2020-01-02", "SPY")
    assert oid == client_order_id("bot-1", "2020-01-02", "SPY"), "ids are derived, not random"
    broker.submit(Order(oid, "SPY", "buy", 1, "2020-01-02"))
    with pytest.raises(DuplicateOrder):
        broker.submit(Order(oid, "SPY", "buy", 1, "2020-01-02"))
    assert len(broker.pending) == 1
