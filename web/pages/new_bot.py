"""``/bots/new``: the six-step wizard (ui.wizard), shared with the agent."""

from __future__ import annotations

import panel as pn

from web.chrome import frame, login_needed, visitor
from web.context import WebContext


def new_bot_page(ctx: WebContext) -> pn.Column:
    who = visitor(ctx)
    if not who.logged_in:
        return login_needed(ctx, "/bots/new", who, title="New bot")
    return frame(ctx, "/bots/new", who, pn.pane.Markdown("wizard"), title="New bot")
