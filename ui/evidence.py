"""What the evidence says about the default settings, shown where a trader accepts them.

The figures are ``docs/regimes.md``'s (``./dev bench walkforward`` reproduces them); change
both together when the default profile is chosen again.
"""

from __future__ import annotations

DEFAULT_EVIDENCE = (
    "What the default settings did (walk-forward 2002-2018, decisions out of sample, costs included; "
    "docs/regimes.md): on the S&P 500, where they were chosen, Sharpe 0.68 against 0.36 for buy-and-hold, "
    "maximum drawdown 24% against 57%; on NASDAQ, held out, Sharpe 0.74 against 0.47, maximum drawdown 38% "
    "against 56%; about 2 trades a year. The 95% interval of the Sharpe gain includes zero on both series: "
    "the gain may be luck. Past results do not predict future ones."
)
