"""What the strategy is judged against: target paths replayed with the strategy's own costs.

A baseline is a target exposure per decision bar. It trades exactly like the engine: at
bar t's close it orders the shares that bring the book to ``target * equity / close``
(nothing below ``MIN_ORDER_SHARES``, nothing the strategy's no-trade band or minimum
holding time would hold back: ``trader.rationing``), and ``PaperBroker`` fills that order
at bar t+1's open with the same slippage and commission. So a baseline differs from the strategy only
in *when* it holds *how much*, never in what trading costs.

``replay`` runs ``PaperBroker`` itself (one path). ``replay_many`` is the same arithmetic,
operation for operation, on a column per path, for the hundred random-entry runs; a test
holds it equal to ``replay`` and to the engine's own audited equity, to the last bit.

The random-entry paths reshuffle the strategy's own holding segments (runs of one approved
target): each keeps its level and length, no two neighbours share a level, so every
path holds each exposure for as many bars as the strategy did and changes its target as
often. What differs is the timing, which is what the strategy claims to be good at.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trader.broker import Order, PaperBroker, Side, client_order_id
from trader.engine import MIN_ORDER_SHARES
from trader.rationing import NEGLIGIBLE_GAP, held_back

SMA_WINDOW = 200
Segment = tuple[float, int]  # (approved target, bars held)
Series = Sequence[float] | NDArray[np.float64]


@dataclass(frozen=True)
class Costs:
    """The strategy's cost model and starting book, shared by every baseline."""

    starting_cash: float
    slippage_bps: float
    commission_bps: float
    rebalance_band: float = 0.0  # the strategy's trade rationing (``trader.rationing``), applied alike
    min_hold_bars: int = 0


@dataclass(frozen=True)
class Path:
    """One replayed target path: the equity at each decision bar's close and what trading cost."""

    equity: NDArray[np.float64]
    trades: int
    commission: float
    slippage: float  # quantity * |fill price - bar open|, summed
    traded: float  # notional of every fill, summed


def replay(targets: Series, opens: Series, closes: Series, costs: Costs) -> Path:
    """The engine's order rule through a real ``PaperBroker``: orders at a close, fills at the next open."""
    broker = PaperBroker(cash=costs.starting_cash, slippage_bps=costs.slippage_bps, commission_bps=costs.commission_bps)
    equity = np.empty(len(targets))
    trades, commission, slippage, traded = 0, 0.0, 0.0, 0.0
    last_trade: int | None = None
    for i, target in enumerate(targets):
        for fill in broker.fill_pending(float(opens[i]), str(i)):
            trades += 1
            commission += fill.commission
            slippage += fill.quantity * abs(fill.price - float(opens[i]))
            traded += fill.quantity * fill.price
        close = float(closes[i])
        equity[i] = value = broker.equity(close)
        exposure = broker.position * close / value if value > 0 else 0.0
        since = None if last_trade is None else i - last_trade
        if held_back(
            float(target),
            exposure,
            band=costs.rebalance_band,
            min_hold_bars=costs.min_hold_bars,
            bars_since_trade=since,
        ):
            continue
        desired = target * value / close if value > 0 else 0.0
        delta = desired - broker.position
        if abs(delta) >= MIN_ORDER_SHARES:
            last_trade = i
            side: Side = "buy" if delta > 0 else "sell"
            broker.submit(Order(client_order_id("baseline", str(i), "leg"), "baseline", side, abs(delta), str(i)))
    return Path(equity, trades, commission, slippage, traded)


def replay_many(
    targets: NDArray[np.float64], opens: NDArray[np.float64], closes: NDArray[np.float64], costs: Costs
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``replay`` for every row of ``targets`` (paths x bars) at once: equity (paths x bars) and trades per path.

    Each line mirrors ``PaperBroker.fill_pending``/``apply``/``equity`` and the engine's order rule in the
    same operation order, so the floats come out identical to ``replay``'s.
    """
    paths, bars = targets.shape
    cash = np.full(paths, costs.starting_cash)
    position = np.zeros(paths)
    pending = np.zeros(paths)  # signed shares ordered at the last close; 0 = no order
    trades = np.zeros(paths, dtype=np.int64)
    equity = np.empty((paths, bars))
    last_trade = np.full(paths, -1, dtype=np.int64)  # -1: never traded
    for i in range(bars):
        filling = pending != 0
        sign = np.where(pending > 0, 1.0, -1.0)
        quantity = np.abs(pending)
        price = opens[i] * (1 + sign * costs.slippage_bps / 10_000)
        commission = np.abs(quantity * price) * costs.commission_bps / 10_000
        cash = np.where(filling, cash - (sign * quantity * price + commission), cash)
        position = np.where(filling, position + sign * quantity, position)
        trades += filling
        equity[:, i] = value = cash + position * closes[i]
        held = _held_back_many(
            targets[:, i], np.where(value > 0, position * closes[i] / value, 0.0), last_trade, i, costs
        )
        desired = np.where(value > 0, targets[:, i] * value / closes[i], 0.0)
        delta = desired - position
        pending = np.where((np.abs(delta) >= MIN_ORDER_SHARES) & ~held, delta, 0.0)
        last_trade = np.where(pending != 0, i, last_trade)
    return equity, trades


def _held_back_many(
    targets: NDArray[np.float64], exposure: NDArray[np.float64], last_trade: NDArray[np.int64], i: int, costs: Costs
) -> NDArray[np.bool_]:
    """``trader.rationing.held_back`` for a column of paths (no risk halts in a baseline)."""
    held = np.zeros(len(targets), dtype=bool)
    if costs.min_hold_bars:
        held |= (last_trade >= 0) & (i - last_trade < costs.min_hold_bars)
    if costs.rebalance_band:
        gap = np.abs(targets - exposure)
        held |= (gap > NEGLIGIBLE_GAP) & (gap <= costs.rebalance_band)
    return np.asarray(held & (targets != 0.0), dtype=bool)


def buy_and_hold_targets(bars: int) -> NDArray[np.float64]:
    """Fully invested from the first decision on (bought at the second decision bar's open)."""
    return np.ones(bars)


def trend_targets(closes: NDArray[np.float64], first: int, bars: int, window: int = SMA_WINDOW) -> NDArray[np.float64]:
    """Long 100% when a decision bar closes above the mean of the last ``window`` closes (itself included).

    ``closes`` is the whole series and ``first`` the index of the first decision bar, so the
    average can use the history before the decisions. Flat while fewer than ``window`` closes exist.
    """
    targets = np.zeros(bars)
    end = first + bars
    if end < window:
        return targets
    means = np.lib.stride_tricks.sliding_window_view(closes[:end], window).mean(axis=1)  # means[k]: closes k..k+w-1
    decided = np.arange(max(first, window - 1), end)
    targets[decided - first] = (closes[decided] > means[decided - window + 1]).astype(np.float64)
    return targets


def holding_segments(targets: Sequence[float]) -> list[Segment]:
    """Runs of one target, in order: (level, bars)."""
    segments: list[Segment] = []
    for target in targets:
        if segments and segments[-1][0] == target:
            segments[-1] = (target, segments[-1][1] + 1)
        else:
            segments.append((float(target), 1))
    return segments


def shuffled_segments(segments: Sequence[Segment], rng: random.Random) -> list[Segment]:
    """The same segments in a random order where no two neighbours share a level.

    Built left to right: each next segment is drawn at random (levels in proportion to the
    segments left at that level), except when one level holds more than half of what is
    left: then it must come next, or the rest could not be placed without two neighbours
    sharing it. The strategy's own order proves an arrangement exists.
    """
    if len({level for level, _ in segments}) == len(segments):  # every level once: any order will do
        shuffled = list(segments)
        rng.shuffle(shuffled)
        return shuffled
    lengths: dict[float, list[int]] = {}
    for level, length in segments:
        lengths.setdefault(level, []).append(length)
    for pile in lengths.values():
        if len(pile) > 1:
            rng.shuffle(pile)
    pool = [level for level, _ in segments]  # one entry per segment left; a uniform draw is in proportion
    counts = {level: len(pile) for level, pile in lengths.items()}
    by_count: dict[int, set[float]] = {}  # count -> the levels with that many segments left
    for level, count in counts.items():
        by_count.setdefault(count, set()).add(level)
    most = max(by_count)
    previous: float | None = None
    out: list[Segment] = []
    while pool:
        left = len(pool)
        index = int(rng.random() * left)
        if most > left // 2:  # only one level can hold more than half of what is left: it must come next
            leader = next(iter(by_count[most]))
            while pool[index] != leader:  # more than half the pool: under two draws on average
                index = int(rng.random() * left)
        else:
            while pool[index] == previous:  # at most half the pool
                index = int(rng.random() * left)
        level = pool[index]
        pool[index] = pool[-1]
        pool.pop()
        out.append((level, lengths[level].pop()))
        count = counts[level]
        by_count[count].discard(level)
        counts[level] = count - 1
        if count > 1:
            by_count.setdefault(count - 1, set()).add(level)
        while most > 0 and not by_count.get(most):
            most -= 1
        previous = level
    return out


def random_entry_targets(targets: Sequence[float], seeds: Sequence[int]) -> NDArray[np.float64]:
    """One row per seed: the strategy's holding segments reshuffled (``shuffled_segments``)."""
    segments = holding_segments(targets)
    rows = np.empty((len(seeds), len(targets)))
    for row, seed in enumerate(seeds):
        levels, lengths = zip(*shuffled_segments(segments, random.Random(seed)), strict=True)
        rows[row] = np.repeat(levels, lengths)
    return rows
