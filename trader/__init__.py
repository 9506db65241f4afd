"""The regime engine: bars, causal features, the HMM and its online filter.

Work in progress (issue 3): strategy, risk, brokers, backtest and the bot runner come next.
"""
