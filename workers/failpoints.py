"""The workers' failpoints are the shared ones (``events.failpoints``): bots use them too."""

from events.failpoints import ENV, Failpoints

__all__ = ["ENV", "Failpoints"]
