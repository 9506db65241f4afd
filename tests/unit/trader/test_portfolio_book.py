"""The paper broker holds a position per symbol, fills each order at its own symbol's open, and values the book."""

from __future__ import annotations

import json

import pytest

from trader import checkpoint
from trader.broker import Order, PaperBroker, PortfolioBook, client_order_id
from trader.engine import EngineState


def _order(symbol: str, side: str, quantity: float) -> Order:
    return Order(client_order_id("bot-1", "2020-01-02", symbol), symbol, side, quantity, "2020-01-02")  # type: ignore[arg-type]


def test_each_order_fills_at_its_own_symbols_open_and_the_book_adds_up() -> None:
    book = PaperBroker(cash=10_000.0, slippage_bps=10, commission_bps=5, positions={"AAA": 0.0, "BBB": 0.0})
    book.submit(_order("AAA", "buy", 10))
    book.submit(_order("BBB", "buy", 4))
    fills = book.fill_pending({"AAA": 100.0, "BBB": 250.0}, "2020-01-03")
    assert [(f.symbol, f.price) for f in fills] == [("AAA", pytest.approx(100.1)), ("BBB", pytest.approx(250.25))]
    assert book.positions == {"AAA": 10.0, "BBB": 4.0}
    spent = sum(f.quantity * f.price + f.commission for f in fills)
    assert book.cash == pytest.approx(10_000.0 - spent)
    assert book.equity({"AAA": 110.0, "BBB": 200.0}) == pytest.approx(book.cash + 1_100.0 + 800.0)


def test_a_portfolio_book_refuses_one_symbol_questions() -> None:
    book = PaperBroker(cash=1.0, positions={"AAA": 1.0, "BBB": 2.0})
    with pytest.raises(PortfolioBook, match="position_of"):
        _ = book.position
    with pytest.raises(PortfolioBook):
        book.equity(100.0)
    assert book.position_of("BBB") == 2.0 and book.position_of("CCC") == 0.0


def test_a_one_symbol_book_learns_its_symbol_from_its_first_fill() -> None:
    book = PaperBroker(cash=0.0, position=5.0)  # as a checkpoint written before portfolios restores it
    book.submit(_order("SPY", "sell", 2))
    book.fill_pending(100.0, "2020-01-03")
    assert book.positions == {"SPY": 3.0} and book.position == 3.0
    assert book.equity({"SPY": 10.0}) == book.equity(10.0)


def test_a_portfolio_book_round_trips_through_its_checkpoint() -> None:
    book = PaperBroker(cash=123.5, positions={"BBB": -1.25, "AAA": 3.0})
    book.submit(_order("AAA", "sell", 1))
    saved = checkpoint.to_json(checkpoint.Checkpoint(EngineState(broker=book), 7, None, None))
    restored = checkpoint.from_json(json.loads(json.dumps(saved, sort_keys=True))).state.broker
    assert restored is not None and "position" not in saved["broker"]
    assert restored.positions == {"AAA": 3.0, "BBB": -1.25} and restored.cash == 123.5
    assert restored.pending == book.pending and restored.known_ids == book.known_ids
    prices = {"AAA": 7.0, "BBB": 11.0}
    assert restored.equity(prices) == book.equity(prices)
