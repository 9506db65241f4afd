"""The public pages: what HMM Trade is, and what it costs (plans from the API, never copied here)."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from web.api import ApiError, public_call
from web.chrome import CSS, every, frame, visitor
from web.context import WebContext

LANDING = """
<section class="landing">
<h1>Trade with the market's regime, not against it</h1>
<p>HMM Trade bots read the market bar by bar with a hidden Markov model, say which regime it is in
(calm rise, choppy, crisis) and size their position from it, under hard risk limits you set.</p>
<ol>
<li><b>Describe a bot</b> in six steps: market, model, exposure per regime, risk limits, schedule.</li>
<li><b>Backtest it</b> on real data and paper-trade it before any real money.</li>
<li><b>Run it</b> on your own computer for free, or hosted by us on a paid plan.</li>
</ol>
<p class="cta"><a href="/signup"><b>Create a free account</b></a> · <a href="/pricing">See plans and prices</a></p>
<p class="fine">Past performance says little about the future; a regime model is no guarantee of profit.</p>
</section>
"""


def landing_page(ctx: WebContext) -> pn.Column:
    who = visitor(ctx)
    body = pn.pane.HTML(LANDING, stylesheets=[CSS], sizing_mode="stretch_width")
    return frame(ctx, "/", who, body, title="Regime-detection trading bots")


def plans_table(plans: list[dict[str, Any]]) -> str:
    rows = []
    for p in plans:
        limits = p["limits"]
        hosted = f"{limits['max_hosted_bots']} hosted bots" if limits["hosted_allowed"] else "on your computer only"
        price = "Free" if p["monthly_usd"] == 0 else f"${p['monthly_usd']:,} / month"
        rows.append(
            f'<tr data-plan="{html.escape(p["name"])}"><td><b>{html.escape(p["title"])}</b></td><td>{price}</td>'
            f"<td class='num'>{limits['max_bots']:,}</td><td>{hosted}</td></tr>"
        )
    return (
        '<table class="web plans"><thead><tr><th>Plan</th><th>Price</th><th class="num">Bots</th>'
        f"<th>Hosted</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def pricing_page(ctx: WebContext) -> pn.Column:
    who = visitor(ctx)
    table = pn.pane.HTML(
        "<p>Loading plans…</p>", stylesheets=[CSS], sizing_mode="stretch_width", css_classes=["pricing"]
    )

    async def load() -> None:
        try:
            plans = (await public_call(ctx.http, "GET", "/api/v1/plans")).json()["plans"]
        except ApiError:
            table.object = '<p class="empty">Prices cannot be loaded right now; this page retries by itself.</p>'
            return
        footer = (
            "<p>Every plan paper-trades and backtests. Bots count until deleted. "
            + ('<a href="/billing">Change your plan</a>' if who.logged_in else '<a href="/signup">Start free</a>')
            + "</p>"
        )
        table.object = plans_table(plans) + footer

    async def retry() -> None:
        if 'class="web plans"' not in str(table.object):
            await load()

    pn.state.onload(load)
    every(retry, 5000)
    return frame(
        ctx, "/pricing", who, pn.Column("## Plans and prices", table, sizing_mode="stretch_width"), title="Pricing"
    )
