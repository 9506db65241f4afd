"""A 3-symbol portfolio: its book adds up from its fills, no decision reads a later bar, and runs are reproducible."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pytest

from trader import checkpoint, portfolio_backtest
from trader.bars import Bars
from trader.broker import client_order_id
from trader.engine import Engine, EngineConfig
from trader.model import FitOptions
from trader.portfolio_bars import align
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from venues.daily import synthetic_bars

SYMBOLS = ("AAA", "BBB", "CCC")
CONFIG = EngineConfig(
    bot_id="portfolio-bot",
    symbol="AAA",
    symbols=SYMBOLS,
    weights=(0.5, 0.3, 0.2),
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=2, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=6, max_daily_loss_pct=3, stop_loss_pct=5, rearm="calm", rearm_calm_bars=5),
    training_window=150,
    refit_every=40,
    rebalance_band=0.02,
)
PER_SYMBOL = replace(CONFIG, scope="per_symbol")
NEW_HIGH = replace(CONFIG, risk=replace(CONFIG.risk, rearm="new_high", max_drawdown_pct=5))
Series = dict[str, Bars]


@cache
def _bars() -> Series:
    return {symbol: synthetic_bars(11, 500, symbol).bars for symbol in SYMBOLS}


def _records(config: EngineConfig, bars: Series) -> list[dict[str, Any]]:
    return portfolio_backtest.run(config, bars).records


@cache
def _reference_run() -> list[dict[str, Any]]:
    return _records(CONFIG, _bars())


@cache
def _per_symbol_run() -> list[dict[str, Any]]:
    return _records(PER_SYMBOL, _bars())


@cache
def _new_high_run() -> list[dict[str, Any]]:
    return _records(NEW_HIGH, _bars())


def _sign(side: str) -> float:
    return 1.0 if side == "buy" else -1.0


@pytest.mark.parametrize("run", [_reference_run, _per_symbol_run], ids=["reference", "per_symbol"])
def test_cash_positions_costs_and_equity_add_up_exactly_from_the_fills(run: Any) -> None:
    records = run()
    cash, positions = CONFIG.starting_cash, dict.fromkeys(SYMBOLS, 0.0)
    placed: dict[str, dict[str, Any]] = {}
    for record in records:
        for fill in record["fills"]:
            order = placed.pop(fill["client_order_id"])
            for key in ("symbol", "side", "quantity"):
                assert fill[key] == order[key]
            open_price = record["symbols"][fill["symbol"]]["bar"]["open"]
            assert fill["price"] == open_price * (1 + _sign(fill["side"]) * CONFIG.slippage_bps / 10_000)
            assert fill["commission"] == abs(fill["quantity"] * fill["price"]) * CONFIG.commission_bps / 10_000
            cash -= _sign(fill["side"]) * fill["quantity"] * fill["price"] + fill["commission"]
            positions[fill["symbol"]] += _sign(fill["side"]) * fill["quantity"]
        assert not placed, "every order fills at the next bar's open"
        assert record["cash"] == cash and record["positions"] == positions
        equity = cash
        for symbol in sorted(SYMBOLS):
            equity += positions[symbol] * record["symbols"][symbol]["bar"]["close"]
        assert record["equity"] == equity
        for symbol, leg in record["symbols"].items():
            assert leg["position"] == positions[symbol]
            assert leg["exposure"] == positions[symbol] * leg["bar"]["close"] / equity
        placed = {order["client_order_id"]: order for order in record["orders"]}
    commissions = sum(f["commission"] for r in records for f in r["fills"])
    metrics = portfolio_backtest.assemble_metrics(records, CONFIG)
    assert metrics["strategy"]["total_commission"] == commissions > 0
    assert sum(s["trades"] for s in metrics["symbols"].values()) == metrics["strategy"]["trades"]


def test_each_symbol_gets_its_weight_of_its_regimes_exposure_and_one_order_per_bar_with_a_derived_id() -> None:
    for config, records in ((CONFIG, _reference_run()), (PER_SYMBOL, _per_symbol_run())):
        traded = set()
        for record in records:
            for symbol, leg in record["symbols"].items():
                model = record["models"][leg["model"]]
                exposure = 0.0 if model["regime"] is None else (0.0, 1.0)[model["regime"]]
                assert leg["target"] == config.weight(symbol) * exposure
            symbols = [o["symbol"] for o in record["orders"]]
            assert len(symbols) == len(set(symbols)), "at most one order per symbol per bar"
            day = record["bar"]["date"]
            for order in record["orders"]:
                assert order["client_order_id"] == client_order_id(config.bot_id, day, order["symbol"])
                traded.add(order["symbol"])
        assert traded == set(SYMBOLS)
    assert set(_reference_run()[0]["models"]) == {"AAA"}
    assert set(_per_symbol_run()[0]["models"]) == set(SYMBOLS)


def test_a_drawdown_halt_on_the_book_flattens_every_symbol_until_it_re_arms() -> None:
    records = _reference_run()
    halts = [i for i, r in enumerate(records) if any(e["kind"] == "halt" for e in r["events"])]
    assert halts, "the synthetic series draw the book down past 6%"
    halt = halts[0]
    rearm = next(i for i, r in enumerate(records) if i > halt and any(e["kind"] == "rearm" for e in r["events"]))
    for record in records[halt:rearm]:
        assert record["risk"]["status"] == "halted"
        assert all(leg["risk"]["approved"] == 0.0 for leg in record["symbols"].values())
    assert all(q == 0.0 for q in records[halt + 1]["positions"].values()), "flat at the next open"
    assert records[halt]["orders"] and {o["side"] for o in records[halt]["orders"]} == {"sell"}


def test_the_position_cap_applies_to_each_symbol_as_a_share_of_the_book() -> None:
    records = _records(replace(CONFIG, risk=replace(CONFIG.risk, max_position_pct=40)), _bars())
    clipped = [r["symbols"]["AAA"] for r in records if r["symbols"]["AAA"]["target"] == 0.5]
    assert clipped and all(leg["risk"]["approved"] == 0.4 for leg in clipped if leg["risk"]["status"] != "halted")
    assert any("clipped to the 40" in reason for leg in clipped for reason in leg["risk"]["reasons"])
    untouched = [r["symbols"]["BBB"] for r in records if r["symbols"]["BBB"]["target"] == 0.3]
    assert untouched and not any("clipped" in reason for leg in untouched for reason in leg["risk"]["reasons"])


def test_a_saved_state_from_another_set_up_is_refused() -> None:
    one_symbol = replace(CONFIG, symbols=(), weights=None)
    with pytest.raises(ValueError, match="BBB, CCC, which this bot does not trade"):
        Engine(one_symbol, Engine(CONFIG).state)
    with pytest.raises(ValueError, match="holds 1 model"):
        Engine(PER_SYMBOL, Engine(CONFIG).state)


def test_a_new_high_re_arm_follows_a_shadow_book_of_the_strategys_own_targets() -> None:
    records = _new_high_run()
    halt = next(i for i, r in enumerate(records) if any(e["kind"] == "halt" for e in r["events"]))
    rearm = next(i for i, r in enumerate(records) if any(e.get("rule") == "new_high" for e in r["events"]))
    assert rearm > halt + 1, "at least one bar halted in between"
    halt_equity = shadow = records[halt]["equity"]
    for j in range(halt + 1, rearm + 1):
        before, now = records[j - 1]["symbols"], records[j]["symbols"]
        shadow *= 1 + sum(
            before[s]["target"] * (now[s]["bar"]["close"] / before[s]["bar"]["close"] - 1) for s in SYMBOLS
        )
        if j < rearm:
            assert shadow <= halt_equity and f"shadow book {shadow:,.2f}" in records[j]["risk"]["reasons"][0]
    assert shadow > halt_equity


def _altered_after(bars: Series, t: int) -> Series:
    out = {}
    for i, (symbol, series) in enumerate(bars.items()):
        n = len(series)
        scale = np.where(np.arange(n) > t, np.linspace(0.6 + 0.1 * i, 1.4, n), 1.0)
        out[symbol] = Bars(
            series.dates, series.open * scale, series.high * scale, series.low * scale, series.close * scale,
            series.volume,
        )  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("config", "run"), [(CONFIG, _reference_run), (PER_SYMBOL, _per_symbol_run)], ids=["reference", "per_symbol"]
)
def test_changing_every_bar_after_t_leaves_every_decision_up_to_t_unchanged(config: EngineConfig, run: Any) -> None:
    bars = _bars()
    t = 470  # after the book's drawdown halt and its re-arm
    cut = str(bars["AAA"].dates[t])
    original = run()
    changed = _records(config, _altered_after(bars, t))
    before = [r for r in original if r["bar"]["date"] <= cut]
    assert before and before == [r for r in changed if r["bar"]["date"] <= cut]
    assert original != changed


def test_one_model_on_the_chosen_reference_series_sets_every_symbols_regime() -> None:
    bars = _bars()
    records = _records(replace(CONFIG, reference_symbol="CCC"), bars)
    ccc = bars["CCC"]
    for record in records[:50]:
        assert set(record["models"]) == {"CCC"} and {leg["model"] for leg in record["symbols"].values()} == {"CCC"}
        t = ccc.dates.index(date.fromisoformat(record["bar"]["date"]))
        assert record["models"]["CCC"]["features"]["log_return"] == pytest.approx(
            100 * np.log(ccc.close[t] / ccc.close[t - 1])
        )
    assert [r["models"]["CCC"]["regime"] for r in records] != [r["models"]["AAA"]["regime"] for r in _reference_run()]


@pytest.mark.parametrize(
    ("config", "run", "restarts"),
    [
        (CONFIG, _reference_run, (300, 467)),  # the second during the drawdown halt
        (PER_SYMBOL, _per_symbol_run, (300, 467)),
        (NEW_HIGH, _new_high_run, (300, 465)),  # during the halt, with the shadow book under way
    ],
    ids=["reference", "per_symbol", "new_high"],
)
def test_a_rerun_is_byte_identical_and_so_is_a_run_restored_from_a_checkpoint_mid_way(
    config: EngineConfig, run: Any, restarts: tuple[int, ...]
) -> None:
    bars = _bars()
    straight = run()
    assert json.dumps(straight, sort_keys=True) == json.dumps(_records(config, bars), sort_keys=True)
    engine = Engine(config)
    resumed: list[dict[str, Any]] = []
    for t in range(len(bars["AAA"])):
        if t in restarts:  # a restart mid-run, through the checkpoint's JSON
            text = json.dumps(checkpoint.to_json(checkpoint.Checkpoint(engine.state, t, None, None)), sort_keys=True)
            engine = Engine(config, checkpoint.from_json(json.loads(text)).state)
        record = engine.on_bar(bars, t)
        if record is not None:
            resumed.append(record)
    assert json.dumps(resumed, sort_keys=True) == json.dumps(straight, sort_keys=True)


def test_weights_are_equal_by_default_and_may_not_sum_past_one() -> None:
    config = replace(CONFIG, weights=None)
    assert [config.weight(s) for s in SYMBOLS] == [1 / 3] * 3
    with pytest.raises(ValueError, match="sum to at most 1"):
        replace(CONFIG, weights=(0.5, 0.5, 0.2))
    with pytest.raises(ValueError, match="one per symbol"):
        replace(CONFIG, weights=(0.5, 0.5))
    with pytest.raises(ValueError, match="reference symbol 'ZZZ'"):
        replace(CONFIG, reference_symbol="ZZZ")


def test_series_are_cut_to_their_common_dates_and_misaligned_ones_are_refused() -> None:
    bars = _bars()
    gappy = bars["BBB"]
    keep = [i for i in range(len(gappy)) if i % 50 != 7]
    holes = Bars(
        tuple(gappy.dates[i] for i in keep), gappy.open[keep], gappy.high[keep], gappy.low[keep], gappy.close[keep],
        gappy.volume[keep],
    )  # fmt: skip
    aligned = align({"AAA": bars["AAA"], "BBB": holes, "CCC": bars["CCC"]})
    assert aligned.dropped == {"AAA": 10, "BBB": 0, "CCC": 10}
    assert len({b.dates for b in aligned.bars.values()}) == 1
    engine = Engine(CONFIG)
    with pytest.raises(ValueError, match="align the series first"):
        engine.on_bar({"AAA": bars["AAA"], "BBB": holes, "CCC": bars["CCC"]}, 10)
    with pytest.raises(ValueError, match="give the bars of each"):
        Engine(CONFIG).on_bar(bars["AAA"], 0)


def _levered(bars: Bars, factor: float) -> Bars:
    """The same path with every log move ``factor`` times as large: ``factor`` times the volatility."""
    base = float(bars.close[0])

    def scale(prices: np.ndarray) -> np.ndarray:
        return base * np.exp(factor * np.log(prices / base))

    return Bars(bars.dates, scale(bars.open), scale(bars.high), scale(bars.low), scale(bars.close), bars.volume)


def test_a_volatility_target_sizes_each_symbol_by_its_own_volatility_not_the_reference_series() -> None:
    """One model on AAA sets both symbols' regime, but BBB moves three times as much: at a 5% volatility
    target it is given a third of AAA's exposure per unit of weight."""
    aaa = synthetic_bars(11, 400, "AAA").bars
    series = {"AAA": aaa, "BBB": _levered(aaa, 3.0)}
    config = replace(
        CONFIG,
        symbols=("AAA", "BBB"),
        weights=None,
        strategy=replace(CONFIG.strategy, vol_target_pct=5.0),
        risk=replace(CONFIG.risk, max_drawdown_pct=50, max_daily_loss_pct=50, stop_loss_pct=None),
    )
    records = _records(config, series)
    invested = [r for r in records if r["symbols"]["AAA"]["target"] > 0]
    assert invested, "the model must accept a regime with exposure for this test to mean anything"
    for record in invested:
        legs = record["symbols"]
        assert legs["AAA"]["model"] == legs["BBB"]["model"] == "AAA"
        assert legs["BBB"]["target"] * 3 == pytest.approx(legs["AAA"]["target"], rel=1e-9)


def test_the_no_trade_band_applies_to_each_symbols_sleeve_so_small_weights_still_trade() -> None:
    """Twelve symbols at 1/12 each, a 10% band: judged on the whole book no position (8% of it) could ever
    open; judged on its sleeve every symbol enters when its regime says so, and a small drift is still held."""
    symbols = tuple(f"S{i:02d}" for i in range(12))
    series = {s: synthetic_bars(11, 300, s).bars for s in symbols}
    config = replace(
        CONFIG,
        symbol=symbols[0],
        symbols=symbols,
        weights=None,
        rebalance_band=0.10,
        risk=replace(CONFIG.risk, max_drawdown_pct=50, max_daily_loss_pct=50, stop_loss_pct=None),
    )
    records = _records(config, series)
    bought = {f["symbol"] for r in records for f in r["fills"] if f["side"] == "buy"}
    assert bought == set(symbols)
    held = [leg["held"] for r in records for leg in r["symbols"].values() if leg["held"]]
    assert held and all("no-trade band" in h for h in held)
