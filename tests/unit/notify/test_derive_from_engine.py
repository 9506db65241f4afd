"""The trader's own records, not hand-made ones, give the notifications a trader expects."""

from __future__ import annotations

import uuid
from dataclasses import replace

from notify.derive import from_audit
from trader import backtest, portfolio_backtest
from trader.bars import load_bundled
from trader.engine import EngineConfig
from trader.model import FitOptions
from trader.outbox import audit_envelope
from trader.risk import RiskLimits
from trader.strategy import StrategyConfig
from venues.daily import synthetic_bars

CONFIG = EngineConfig(
    bot_id="notify-bot",
    symbol="SPX",
    feature_names=("log_return", "realized_vol"),
    fit=FitOptions(n_states=3, restarts=1),
    strategy=StrategyConfig(exposure_per_regime=(0.0, 1.0, 1.0), min_persistence=2),
    risk=RiskLimits(max_drawdown_pct=8, max_daily_loss_pct=10, rearm="calm", rearm_calm_bars=5),
    training_window=200,
    refit_every=42,
)


def test_regime_changes_halts_and_re_arms_of_a_real_run_each_become_one_notification() -> None:
    bot = uuid.UUID(int=7)
    records = backtest.run(replace(CONFIG, rebalance_band=0.1), load_bundled("sp500").head(900)).records
    kinds: dict[str, int] = {}
    ids: set[str] = set()
    for record in records:
        for note in from_audit(audit_envelope(bot, record), bot_name="Quality bot"):
            kinds[note.kind] = kinds.get(note.kind, 0) + 1
            ids.add(note.id)
    changes = sum(1 for r in records for e in r["events"] if e["kind"] == "regime_change")
    halts = sum(1 for r in records for e in r["events"] if e["kind"] == "halt")
    rearms = sum(1 for r in records for e in r["events"] if e["kind"] == "rearm")
    assert changes and halts and rearms
    assert (kinds.get("regime_change"), kinds.get("halt"), kinds.get("rearm")) == (changes, halts, rearms)
    assert len(ids) == sum(kinds.values()), "every notification has its own id"


def test_a_portfolios_records_go_on_the_bus_with_their_lead_model_and_notify_which_model_changed() -> None:
    """A portfolio record has no flat regime: its envelope carries the per-symbol model of the first symbol,
    and each regime change names the series whose model changed its mind."""
    symbols = ("AAA", "BBB")
    config = replace(
        CONFIG, symbol="AAA", symbols=symbols, scope="per_symbol", risk=replace(CONFIG.risk, max_drawdown_pct=20)
    )
    series = {s: synthetic_bars(11, 400, s).bars for s in symbols}
    records = portfolio_backtest.run(config, series).records
    bot = uuid.UUID(int=8)
    changes = [(r, e) for r in records for e in r["events"] if e["kind"] == "regime_change"]
    assert {e["model"] for _, e in changes} == set(symbols)
    for record in records:
        envelope = audit_envelope(bot, record)
        assert envelope.regime == record["models"]["AAA"]["regime"]
        assert envelope.probabilities == record["models"]["AAA"]["probabilities"]
        assert envelope.equity == record["equity"]
    record = next(r for r, e in changes if e["model"] == "BBB")
    notes = [n for n in from_audit(audit_envelope(bot, record)) if n.kind == "regime_change"]
    named = {n.facts["model"]: n for n in notes}
    assert len(notes) == len(named), "one notification per model that changed"
    assert named["BBB"].title.endswith(" of BBB") and "the regime of BBB changed" in named["BBB"].text
