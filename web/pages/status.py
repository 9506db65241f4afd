"""``/status``: the health of every part of the service and the incident history, public, kept current
while open (the history is shared by every open status page: one API request per few seconds)."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import panel as pn

from web.chrome import CSS, every, frame, visitor
from web.context import WebContext
from web.incident_words import INCIDENT_CSS, history_html
from web.status import COMPONENT_NAMES, IMPACT, Health

WORDS = {"ok": "Operational", "degraded": "Degraded", "down": "Down"}


def status_html(health: Health) -> str:
    if not health.api_reachable:
        return (
            '<p class="status-overall" data-status="down"><b>The HMM Trade API is not answering.</b> '
            f"{IMPACT['api'].capitalize()}. Running hosted bots keep trading.</p>"
        )
    rows = []
    for c in health.components:
        name = str(c.get("component"))
        state = str(c.get("status"))
        detail = str(c.get("detail") or "")
        rows.append(
            f'<tr data-component="{html.escape(name)}" data-status="{html.escape(state)}">'
            f"<td>{html.escape(COMPONENT_NAMES.get(name, name))}</td>"
            f'<td class="{"gain" if state == "ok" else "loss"}"><b>{WORDS.get(state, html.escape(state))}</b></td>'
            f"<td>{html.escape(detail)}</td></tr>"
        )
    overall = "ok" if not health.down() else "down"
    checked = (
        datetime.fromtimestamp(health.checked_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if health.checked_at else "–"
    )
    headline = "All systems operational" if overall == "ok" else "Some systems have problems"
    return (
        f'<p class="status-overall" data-status="{overall}"><b>{headline}</b> · checked {checked}</p>'
        '<table class="web status"><thead><tr><th>Component</th><th>Status</th><th>Detail</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def status_page(ctx: WebContext) -> pn.Column:
    who = visitor(ctx)
    table = pn.pane.HTML(status_html(ctx.status.health), stylesheets=[CSS], sizing_mode="stretch_width")
    history = pn.pane.HTML(
        history_html(None, failed=False),
        stylesheets=[CSS, INCIDENT_CSS],
        sizing_mode="stretch_width",
        css_classes=["incident-history"],
    )

    def refresh() -> None:
        table.object = status_html(ctx.status.health)

    async def refresh_history() -> None:
        snap = await ctx.incidents.history(ctx.http)
        shown = history_html(snap.value, failed=snap.error is not None)
        if shown != history.object:
            history.object = shown

    every(refresh, 2000)
    if pn.state.curdoc is not None:
        pn.state.onload(refresh_history)
    every(refresh_history, 2000)
    body = pn.Column("## Service status", table, history, sizing_mode="stretch_width")
    return frame(ctx, "/status", who, body, title="Status")
