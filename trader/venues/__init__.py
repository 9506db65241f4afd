"""Venue adapters: each turns one broker or exchange SDK into the :mod:`trader.venue` port.

Import the adapter module you need (``trader.venues.ccxt_venue``); this package imports no
SDK itself, so a bot that trades stocks never loads ccxt. ``order_rules`` is venue-agnostic.
"""
