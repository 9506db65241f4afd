"""Venue adapters: each SDK behind the ``trader.venue.Venue`` port."""
