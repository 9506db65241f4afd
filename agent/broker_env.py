"""A local bot's broker account, as its ``.env`` describes it, checked before the bot is created.

A local bot with ``data_source: broker`` reads its credentials from the instance folder's
``.env`` (``config/instances/.env``, shared by every bot, then the bot's own ``<id>.env``):
``BROKER_KIND`` and that kind's ``BROKER_*`` keys, the same names a hosted bot's boot writes
from its broker token. The agent refuses such a bot at create when keys are missing, naming
them and never their values, and applies the control plane's account rules (paper or live,
crypto-only exchanges) to what the ``.env`` says.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.brokers import CREDENTIAL_MODELS, env_keys
from contracts.profile import BotProfile
from contracts.venue_rules import venue_problems

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def account_is_paper(env: Mapping[str, str]) -> bool | None:
    """True for a paper account (Alpaca ``BROKER_PAPER``, exchange ``BROKER_SANDBOX``), None if unsaid."""
    kind = env.get("BROKER_KIND", "").strip()
    if kind == "alpaca":
        return _flag(env.get("BROKER_PAPER"))
    if kind == "exchange":
        sandbox = env.get("BROKER_SANDBOX")
        return False if sandbox is None else _flag(sandbox)  # no sandbox flag: a real account
    return None


def local_broker_problems(profile: BotProfile, env: Mapping[str, str]) -> list[str]:
    """Why a local bot cannot use the broker in ``env`` (one line each); empty when it can.

    Only bots reading broker data are checked: the others trade the built-in paper broker.
    """
    if profile.market.data_source != "broker" or profile.broker.connection != "paper":
        return []  # a cloud connection id: its credentials come from the cloud, not this .env
    kind = env.get("BROKER_KIND", "").strip()
    if kind not in CREDENTIAL_MODELS:
        known = " or ".join(sorted(CREDENTIAL_MODELS))
        said = f"is {kind!r}" if kind else "is missing"
        return [
            f"broker: BROKER_KIND {said} in config/instances/.env: set it to {known} with that broker's keys "
            "(see docs/brokers.md)"
        ]
    required, _optional = env_keys(kind)
    missing = [name for name in required if not env.get(name, "").strip()]
    if missing:
        return [f"broker: config/instances/.env has BROKER_KIND={kind} but lacks {', '.join(missing)}"]
    paper = account_is_paper(env)
    if paper is None:
        flag = "BROKER_PAPER" if kind == "alpaca" else "BROKER_SANDBOX"
        return [f"broker: {flag} in config/instances/.env must be true (a paper account) or false (live)"]
    exchange = env.get("BROKER_EXCHANGE", "").strip() or None
    return [f"{p.field}: {p.msg}" for p in venue_problems(profile, kind=kind, paper=paper, exchange=exchange)]
