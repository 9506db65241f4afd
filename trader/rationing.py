"""When a rebalance is held back: the no-trade band and the minimum holding time.

One rule for the engine and for every baseline replayed against it (``trader.baselines``),
so a baseline differs from the strategy only in what it targets, never in how it trades.
Exits (a target of 0) and the risk engine's halts are never held back: flat means flat.
"""

from __future__ import annotations

NEGLIGIBLE_GAP = 1e-9  # exposure already at target: nothing to trade, nothing to explain


def held_back(
    target: float,
    exposure_now: float,
    *,
    band: float,
    min_hold_bars: int,
    bars_since_trade: int | None,
    forced: bool = False,
) -> str | None:
    """Why this bar's rebalance toward ``target`` is skipped, or None to trade.

    ``bars_since_trade`` counts decisions since the last one that placed an order (None: never);
    ``forced`` is a risk halt, which always trades.
    """
    if forced or target == 0.0:
        return None
    if min_hold_bars and bars_since_trade is not None and bars_since_trade < min_hold_bars:
        return f"minimum holding time: {bars_since_trade} of {min_hold_bars} bars since the last trade"
    gap = abs(target - exposure_now)
    if band and NEGLIGIBLE_GAP < gap <= band:
        return f"within the no-trade band: exposure {exposure_now:.2f} vs {target:.2f} approved"
    return None
