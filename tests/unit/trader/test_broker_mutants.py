"""Paper broker behaviour that a mutation run (``./dev mutation trader/broker.py``) showed untested.

What a user would notice: a sell that buys, a second fill that replaces the position, a zero-size
order on the venue, two legs of one bar sharing an order id, a restored bot losing its position.
"""

from __future__ import annotations

import pytest

from trader.broker import DuplicateOrder, Fill, Order, PaperBroker, client_order_id


def _order(leg: str = "SPY", side: str = "buy", quantity: float = 10.0, symbol: str = "SPY") -> Order:
    return Order(client_order_id("bot-1", "2020-01-02", leg), symbol, side, quantity, "2020-01-02")  # type: ignore[arg-type]


def test_client_order_ids_differ_by_bot_bar_and_leg_and_are_32_hex_characters() -> None:
    base = client_order_id("bot-1", "2020-01-02", "SPY")
    assert len(base) == 32 and int(base, 16) >= 0
    assert base != client_order_id("bot-2", "2020-01-02", "SPY")
    assert base != client_order_id("bot-1", "2020-01-03", "SPY")
    assert base != client_order_id("bot-1", "2020-01-02", "QQQ"), "two legs on one bar must not collide"


def test_default_costs_are_two_bps_of_slippage_and_one_bp_of_commission() -> None:
    broker = PaperBroker(cash=10_000)
    broker.submit(_order())
    [fill] = broker.fill_pending(100.0, "2020-01-03")
    assert fill.price == pytest.approx(100.02, rel=1e-12)
    assert fill.commission == pytest.approx(1000.2 * 1 / 10_000, rel=1e-12)


def test_a_sell_fills_below_the_open_reduces_the_position_and_adds_cash() -> None:
    broker = PaperBroker(cash=0.0, slippage_bps=10, commission_bps=0, position=10.0)
    broker.submit(_order(side="sell", quantity=4.0))
    [fill] = broker.fill_pending(100.0, "2020-01-03")
    assert fill.side == "sell" and fill.price == pytest.approx(99.9, rel=1e-12)
    assert broker.position == pytest.approx(6.0)
    assert broker.cash == pytest.approx(4 * 99.9)


def test_a_fill_names_its_order_symbol_and_bar() -> None:
    broker = PaperBroker(cash=10_000)
    order = _order()
    broker.submit(order)
    [fill] = broker.fill_pending(100.0, "2020-01-03")
    assert (fill.client_order_id, fill.symbol, fill.quantity, fill.filled_at) == (
        order.client_order_id,
        "SPY",
        10.0,
        "2020-01-03",
    )


def test_a_second_fill_adds_to_the_position() -> None:
    broker = PaperBroker(cash=10_000, commission_bps=0)
    broker.submit(_order("a", quantity=3.0))
    broker.fill_pending(100.0, "2020-01-03")
    assert broker.pending == []
    broker.submit(_order("b", quantity=2.0))
    broker.fill_pending(100.0, "2020-01-06")
    assert broker.positions == {"SPY": 5.0}


def test_fills_reported_by_a_venue_are_booked_by_side() -> None:
    broker = PaperBroker(cash=1_000.0)
    broker.apply(Fill("a", "SPY", "buy", 5.0, 100.0, 1.0, "t1"))
    broker.apply(Fill("b", "SPY", "sell", 2.0, 110.0, 1.0, "t2"))
    assert broker.positions == {"SPY": 3.0}
    assert broker.cash == pytest.approx(1_000.0 - 500.0 - 1.0 + 220.0 - 1.0)


def test_a_restored_one_symbol_book_keeps_its_position_when_it_learns_its_symbol() -> None:
    restored = PaperBroker(cash=0.0, position=5.0)
    assert restored.positions == {"": 5.0}
    assert restored.position_of("SPY") == 5.0
    assert restored.positions == {"SPY": 5.0}
    filled = PaperBroker(cash=1_000.0, commission_bps=0, position=5.0)
    filled.apply(Fill("a", "SPY", "buy", 1.0, 100.0, 0.0, "t1"))
    assert filled.positions == {"SPY": 6.0}


def test_a_named_book_asked_about_another_symbol_holds_none_of_it() -> None:
    broker = PaperBroker(cash=0.0, positions={"SPY": 2.0})
    assert broker.position_of("QQQ") == 0.0
    assert broker.positions == {"SPY": 2.0}


def test_a_book_takes_one_position_or_positions_by_symbol_not_both() -> None:
    with pytest.raises(ValueError, match=r"^give a book either one position or positions by symbol, not both$"):
        PaperBroker(cash=0.0, position=1.0, positions={"SPY": 1.0})
    assert PaperBroker(cash=0.0, positions={"SPY": 1.0, "QQQ": 2.0}).positions == {"SPY": 1.0, "QQQ": 2.0}


def test_a_restored_book_remembers_its_order_ids_and_pending_orders() -> None:
    order = _order()
    broker = PaperBroker(cash=10_000, known_ids={order.client_order_id}, pending=[order])
    with pytest.raises(DuplicateOrder) as refused:
        broker.submit(order)
    assert str(refused.value) == order.client_order_id
    [fill] = broker.fill_pending(100.0, "2020-01-03")
    assert fill.client_order_id == order.client_order_id


@pytest.mark.parametrize("quantity", [0.0, -1.0])
def test_an_order_for_nothing_or_less_is_refused(quantity: float) -> None:
    broker = PaperBroker(cash=10_000)
    with pytest.raises(ValueError, match=r"^order quantity must be positive$"):
        broker.submit(_order(quantity=quantity))
    assert broker.pending == [] and broker.known_ids == set()


def test_a_portfolio_fills_each_order_at_its_own_symbol_open_and_values_every_position() -> None:
    broker = PaperBroker(cash=10_000, slippage_bps=0, commission_bps=0)
    broker.submit(_order("SPY", quantity=10.0, symbol="SPY"))
    broker.submit(_order("QQQ", side="sell", quantity=5.0, symbol="QQQ"))
    fills = broker.fill_pending({"SPY": 100.0, "QQQ": 50.0}, "2020-01-03")
    assert [(f.symbol, f.price) for f in fills] == [("SPY", 100.0), ("QQQ", 50.0)]
    assert broker.positions == {"SPY": 10.0, "QQQ": -5.0}
    assert broker.equity({"SPY": 110.0, "QQQ": 40.0}) == pytest.approx(10_000 - 1000 + 250 + 1100 - 200)


def test_a_restored_book_valued_with_one_named_price_claims_that_symbol() -> None:
    broker = PaperBroker(cash=100.0, position=2.0)
    assert broker.equity({"SPY": 10.0}) == pytest.approx(120.0)
    assert broker.positions == {"SPY": 2.0}


def test_take_pending_hands_the_orders_over_once() -> None:
    broker = PaperBroker(cash=10_000)
    order = _order()
    broker.submit(order)
    assert broker.take_pending() == [order]
    assert broker.take_pending() == [] and broker.position == 0.0
