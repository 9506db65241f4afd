"""Audit pipeline page: the shared audit viewer (:class:`ui.audit.AuditView`) fed from the agent's
bus subscription, bots named from their local profiles, new records pushed as they arrive."""

from __future__ import annotations

import panel as pn

from agent.dashboard.common import page, push_on_change, query_arg
from agent.dashboard.context import AgentContext
from agent.instances import list_instances
from ui.audit import AuditView
from ui.regimes import named_exposures


def audit_page(ctx: AgentContext) -> pn.Column:
    view = AuditView(bot=query_arg("bot"))
    fed: dict[str, int] = {}  # bot id -> last seq handed to the view
    named: set[str] = set()

    def describe_bots() -> None:
        instances, _ = list_instances(ctx.home)
        for instance in instances:
            profile = instance.profile
            view.describe(
                instance.bot_id,
                name=profile.basics.name,
                exposures=named_exposures(profile.strategy.exposure_per_regime, profile.model.n_states),
                symbols=profile.market.symbols,
            )
            named.add(instance.bot_id)

    def feed() -> None:
        if any(bot_id not in named for bot_id in ctx.live.bots):
            describe_bots()  # a bot created since the page opened
            named.update(ctx.live.bots)  # one without a local profile keeps its short id
        for bot_id, live in list(ctx.live.bots.items()):
            new = [r for r in live.audit if r.seq > fed.get(bot_id, 0)]
            if new:
                view.add(bot_id, new)
                fed[bot_id] = new[-1].seq

    describe_bots()
    feed()
    push_on_change(ctx, lambda _bot, kind: kind == "audit", feed)
    body = pn.Column("## Audit pipeline", view.panel, sizing_mode="stretch_width")
    return page(ctx, "audit", body)
