"""The venue a bot's settings name: ``BROKER_KIND`` and its ``BROKER_*`` credentials.

A hosted bot's boot writes them from the control plane's short-lived broker token; a
local bot reads them from ``config/instances/.env``. The paper/live check happens here,
before any order: a live bot on a paper account (or the reverse) refuses to start.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.profile import BotProfile
from trader.feeds import FeedError
from trader.venue import ALPACA_URL_ENV, EXCHANGE_URL_ENV, Venue

_REQUIRED = {
    "alpaca": ("BROKER_API_KEY_ID", "BROKER_API_SECRET_KEY", "BROKER_PAPER"),
    "exchange": ("BROKER_EXCHANGE", "BROKER_API_KEY", "BROKER_API_SECRET"),
}


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


def venue_from_env(env: Mapping[str, str], profile: BotProfile) -> Venue:
    kind = env.get("BROKER_KIND", "")
    if kind not in _REQUIRED:
        raise FeedError(
            "data_source 'broker' needs a broker connection: BROKER_KIND is "
            f"{kind or 'not set'!r}; set BROKER_KIND=alpaca or exchange with its keys in config/instances/.env, "
            "or pick an Alpaca or exchange connection in step 2"
        )
    missing = [key for key in _REQUIRED[kind] if not env.get(key)]
    if missing:
        raise FeedError(f"the {kind} connection is missing {', '.join(missing)} (set in config/instances/.env)")
    mode = profile.basics.mode
    if kind == "alpaca":
        from trader.venues.alpaca import AlpacaVenue

        paper = _flag(env["BROKER_PAPER"])
        if mode == "live" and paper:
            raise FeedError("basics.mode is live but the connection is an Alpaca paper account: nothing was sent")
        if mode == "paper" and not paper:
            raise FeedError("basics.mode is paper but the connection is a live Alpaca account: nothing was sent")
        return AlpacaVenue(
            env["BROKER_API_KEY_ID"],
            env["BROKER_API_SECRET_KEY"],
            paper=paper,
            base_url=env.get(ALPACA_URL_ENV) or None,
        )
    from trader.venues.ccxt_venue import CcxtVenue

    if profile.market.asset_class != "crypto":
        raise FeedError("market.asset_class must be 'crypto' for an exchange connection")
    sandbox = _flag(env.get("BROKER_SANDBOX", ""))
    if mode == "live" and sandbox:
        raise FeedError(
            "basics.mode is live but the connection is an exchange sandbox (test) account: nothing was sent"
        )
    if mode == "paper" and not sandbox:
        raise FeedError(
            "basics.mode is paper but the connection is a real exchange account (sandbox false): nothing was sent"
        )
    return CcxtVenue.create(
        env["BROKER_EXCHANGE"],
        env["BROKER_API_KEY"],
        env["BROKER_API_SECRET"],
        env.get("BROKER_PASSPHRASE") or None,
        base_url=env.get(EXCHANGE_URL_ENV) or None,
        sandbox=sandbox,
        symbols=profile.market.symbols,
    )
