"""The control plane's side of shipped first models (``trader.initial_models``): fit once per set-up.

The bot's own engine code makes the fit: an engine built from the profile steps through the
bars the bot will replay until each model has its first fit, and what that fit was (its key
and model) is shipped. So the key the bot computes at its first fit is the same unless its
window, options or fitting libraries differ, and then the bot fits for itself.
"""

from __future__ import annotations

import asyncio

from contracts.profile import BotProfile
from trader.config import engine_config
from trader.engine import Engine
from trader.feeds import feed_for
from trader.initial_models import InitialModel
from trader.threads import limit_math_threads

SHIPPABLE_SOURCES = ("sp500", "nasdaq")  # replays the control plane holds too; one symbol each


def shippable(profile: BotProfile) -> bool:
    """Whether the control plane can make this bot's first fit: one symbol on bundled data, a fixed state count."""
    return (
        profile.market.data_source in SHIPPABLE_SOURCES
        and len(profile.market.symbols) == 1
        and profile.model.n_states != "auto"
    )


def first_fits(profile: BotProfile) -> list[InitialModel]:
    """The first fit the bot would make at its first decision; [] when it cannot be made here (see ``shippable``)."""
    if not shippable(profile):
        return []
    limit_math_threads()  # fit as the bot does (one BLAS thread): more threads may change the last bits
    bars = asyncio.run(feed_for(profile).available())
    engine = Engine(engine_config(profile, bot_id="first-fit"))
    length = len(next(iter(bars.values())).close)
    for t in range(length):
        engine.on_bar({symbol: series.head(t + 1) for symbol, series in bars.items()}, t)
        fits = engine.first_fits()
        if fits:
            return [InitialModel(key, model) for key, model in fits]
    return []
