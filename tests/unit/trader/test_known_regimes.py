"""On a path whose regimes are known, the online pipeline finds them, and decides without looking ahead.

One seed of the emulators' generator (``venues.daily.synthetic_bars``), 1,500 bars, run through
the real engine with ``bench/regimes.py``'s configuration (fewer restarts). ``./dev bench
regimes`` measures the same over several seeds against an oracle; this is its fast guard.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from bench.regime_scoring import best_mapping, confusion, mapped, score
from bench.regimes import CONFIG, N_STATES, OnlineLabels, online_labels
from trader import backtest
from trader.backtest import BacktestResult
from trader.model import FitOptions
from venues.daily import LabelledBars, synthetic_bars

SEED, N_BARS = 1, 1500
FAST = replace(CONFIG, fit=FitOptions(n_states=N_STATES, restarts=2))


@cache
def _path() -> LabelledBars:
    return synthetic_bars(SEED, N_BARS, FAST.symbol)


@cache
def _run() -> tuple[BacktestResult, OnlineLabels]:
    result = backtest.run(FAST, _path().bars)
    return result, online_labels(result, _path().bars)


def _majority_share(truth: np.ndarray[Any, np.dtype[np.int64]]) -> float:
    return float(np.bincount(truth, minlength=N_STATES).max() / len(truth))


def test_the_online_pipeline_recovers_the_known_regimes_well_above_chance() -> None:
    """Each model's states named by their volatility (the generator's documented ordering, read off
    the model's own parameters): the bot's accepted regime and the filter's argmax are right on far
    more bars than always guessing the most common state."""
    _, online = _run()
    truth = _path().regimes[online.bar_index]
    assert len(truth) > 900
    chance = _majority_share(truth)
    identity = {k: k for k in range(N_STATES)}
    accepted = score(truth, online.accepted_by_vol, N_STATES, mapping=identity)
    argmax = score(truth, online.argmax_by_vol, N_STATES, mapping=identity)
    assert accepted.accuracy > chance + 0.1, (accepted.accuracy, chance)
    assert argmax.accuracy > chance + 0.15, (argmax.accuracy, chance)
    # and the best one-to-one relabelling could not do much better: the volatility names are the right ones
    labels = np.asarray(online.argmax_by_vol)
    relabelled = mapped(labels, best_mapping(confusion(truth, labels, N_STATES)))
    assert np.mean(relabelled == truth) - argmax.accuracy < 0.02


def test_the_stability_filter_switches_only_after_min_persistence_confident_bars() -> None:
    result, _ = _run()
    persistence, threshold = FAST.strategy.min_persistence, FAST.strategy.prob_threshold
    records = result.records
    switches = 0
    ignored_blips = 0
    for i, record in enumerate(records):
        before = records[i - 1]["regime"] if i else None
        top = [int(np.argmax(r["probabilities"])) for r in records[max(0, i - persistence + 1) : i + 1]]
        confident = [max(r["probabilities"]) >= threshold for r in records[max(0, i - persistence + 1) : i + 1]]
        if record["regime"] != before:
            switches += 1
            assert i >= persistence - 1, f"regime accepted at decision {i}, before {persistence} bars existed"
            assert top == [record["regime"]] * persistence and all(confident), (
                f"decision {i} switched {before} -> {record['regime']} after the filter said {top}"
            )
        elif top[-1] != record["regime"] and confident[-1]:
            ignored_blips += 1
    assert switches > 10, "the path has many regime changes: the filter must accept some"
    assert ignored_blips > 0, "confident bars of another state that did not (yet) switch the regime"


def test_decisions_up_to_a_bar_are_the_same_when_the_later_bars_do_not_exist() -> None:
    """Truncating the path after bar t (mid refit cycle) leaves every decision up to t as it was."""
    full, _ = _run()
    t = 1111
    truncated = backtest.run(FAST, _path().bars.head(t + 1)).records
    cut = str(_path().bars.dates[t])
    assert truncated[-1]["bar"]["date"] == cut
    assert truncated == [r for r in full.records if r["bar"]["date"] <= cut]


def test_the_labels_the_bot_trades_on_keep_their_meaning_across_refits() -> None:
    """As traded (no renaming afterwards): one mapping of the bot's labels to the true states for the
    whole path beats always guessing the most common state by far, and refits seldom move a label
    to another volatility rank. Before labels were matched across refits this was at chance."""
    _, online = _run()
    truth = _path().regimes[online.bar_index]
    chance = _majority_share(truth)
    labels = np.asarray([-1 if x is None else x for x in online.argmax])
    as_traded = np.mean(mapped(labels, best_mapping(confusion(truth, labels, N_STATES))) == truth)
    assert as_traded > chance + 0.15, (as_traded, chance)
    assert online.meaning_swaps <= online.refits // 5, (online.meaning_swaps, online.refits)
