"""Does a bot profile fit the broker account it trades through?

The profile's own validators cannot see the account; these rules take its non-secret facts
(kind, paper or live, exchange) and say which profile field to change. The control plane
applies them to a stored connection (``api/venue_checks.py``), the local agent to the
``BROKER_*`` keys of an instance's ``.env``: one set of rules, the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.profile import BotProfile

UNKNOWN_ACCOUNT = "reconnect the broker so we know whether it is a paper or live account"


@dataclass(frozen=True)
class FieldProblem:
    """One refusal: the dotted profile field to change and what to do."""

    field: str
    msg: str


def _account_name(kind: str, exchange: str | None) -> str:
    if kind == "alpaca":
        return "an Alpaca"
    if kind == "exchange":
        return f"a {exchange} exchange" if exchange else "an exchange"
    return "the built-in simulator's"


def venue_problems(profile: BotProfile, *, kind: str, paper: bool | None, exchange: str | None) -> list[FieldProblem]:
    """What stops ``profile`` from trading through an account of ``kind`` (empty: it fits)."""
    problems: list[FieldProblem] = []
    if kind == "paper":
        paper = True
        if profile.market.data_source == "broker":
            problems.append(
                FieldProblem(
                    "broker.connection",
                    "this is a connection to the built-in paper simulator, which has no market data: pick an "
                    "Alpaca or exchange connection for data_source 'broker'",
                )
            )
    if kind == "exchange" and profile.market.asset_class != "crypto":
        problems.append(
            FieldProblem(
                "market.asset_class",
                f"{_account_name(kind, exchange)} connection trades crypto only: set asset_class to 'crypto' "
                "or pick an Alpaca connection for stocks",
            )
        )
    account = _account_name(kind, exchange)
    mode = profile.basics.mode
    if paper is None:
        problems.append(FieldProblem("basics.mode", UNKNOWN_ACCOUNT))
    elif mode == "live" and paper:
        problems.append(
            FieldProblem(
                "basics.mode",
                f"this connection is {account} paper account; switch the bot to paper or pick a live connection",
            )
        )
    elif mode == "paper" and not paper:
        problems.append(
            FieldProblem(
                "basics.mode",
                f"this connection is {account} live account that trades real money; switch the bot to live "
                "(and confirm it) or pick a paper connection",
            )
        )
    return problems
