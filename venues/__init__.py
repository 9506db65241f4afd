"""Simulated venues: the market both emulators share, and the venue emulators themselves.

``venues.market`` is the price source (one deterministic intraday path per symbol and day);
``venues.alpaca`` serves it over Alpaca's wire protocol. Nothing here is imported by a bot:
the bots reach these only over the network, through the venues' own SDKs.
"""
