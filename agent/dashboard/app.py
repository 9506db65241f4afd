"""The Panel server: one route per page, JS served by Panel itself (no CDN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn

from agent.dashboard.audit import audit_page
from agent.dashboard.backtests import backtests_page
from agent.dashboard.bots import bots_page
from agent.dashboard.cloud import cloud_page
from agent.dashboard.context import AgentContext
from agent.dashboard.hosts import refuse_unexpected_hosts
from agent.dashboard.live import live_page
from agent.dashboard.wizard import wizard_page


def routes(ctx: AgentContext) -> dict[str, Callable[[], Any]]:
    pages: dict[str, Callable[[AgentContext], Any]] = {
        "bots": bots_page,
        "live": live_page,
        "audit": audit_page,
        "backtests": backtests_page,
        "wizard": wizard_page,
        "cloud": cloud_page,
    }
    return {slug: _bind(build, ctx) for slug, build in pages.items()}


def _bind(build: Callable[[AgentContext], Any], ctx: AgentContext) -> Callable[[], Any]:
    return lambda: build(ctx)


def make_server(ctx: AgentContext, *, port: int, address: str = "127.0.0.1") -> Any:
    """A Bokeh/Panel server on the running event loop (call ``.start()``; ``.stop()`` at the end).

    Only its own host names are served (see :mod:`agent.dashboard.hosts`); the websocket's
    ``Origin`` is checked by Bokeh against the same names.
    """
    pn.extension("tabulator", design=None, inline=False)
    server = pn.serve(
        {"": routes(ctx)["bots"], **routes(ctx)},
        port=port,
        address=address,
        show=False,
        start=False,
        title="HMM Trade agent",
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
    )
    refuse_unexpected_hosts(server, address=address)
    return server
