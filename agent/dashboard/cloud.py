"""Cloud page: log in, sync status (and the reconnect prompt), the cloud bot list with hosted
bots' status, and one bot's audit trail from the API."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from agent.cloud import CloudError
from agent.dashboard.common import CSS, page
from agent.dashboard.context import AgentContext


def bots_table(bots: list[dict[str, Any]]) -> str:
    if not bots:
        return "<p>No bots in the cloud account yet.</p>"
    rows = "".join(
        f'<tr class="cloud-bot" data-bot="{b["id"]}"><td>{html.escape(b["name"])}</td><td>{b["surface"]}</td>'
        f'<td>{b["mode"]}</td><td class="cloud-status">{b["status"]}</td>'
        f"<td>{html.escape(b.get('status_reason') or '')}</td><td>{b['id']}</td></tr>"
        for b in bots
    )
    return _table(("name", "surface", "mode", "status", "why", "id"), rows)


def _table(headers: tuple[str, ...], rows: str) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f'<table class="hmm"><tr>{head}</tr>{rows}</table>'


def cloud_page(ctx: AgentContext) -> pn.Column:
    login = ctx.sync.store.load()
    api_url = pn.widgets.TextInput(name="Cloud API", value=login.api_url if login else ctx.default_api_url, width=320)
    email = pn.widgets.TextInput(
        name="Email", value=login.email if login else "", width=260, css_classes=["cloud-email"]
    )
    password = pn.widgets.PasswordInput(name="Password", width=220, css_classes=["cloud-password"])
    login_button = pn.widgets.Button(name="Log in", button_type="primary", css_classes=["cloud-login"])
    sync_now = pn.widgets.Button(name="Sync now", css_classes=["cloud-sync"])
    status = pn.pane.HTML("", css_classes=["cloud-state"], sizing_mode="stretch_width")
    table = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS])
    audit_bot = pn.widgets.Select(name="Audit of cloud bot", options=[], width=420)
    audit_out = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS])

    def refresh() -> None:
        status.object = (
            f'<p data-sync="{ctx.sync.status}">Sync: <b>{ctx.sync.status}</b> — {html.escape(ctx.sync.message)}</p>'
        )
        table.object = bots_table(ctx.sync.cloud_bots) if ctx.sync.status != "logged_out" else ""
        audit_bot.options = {f"{b['name']} ({b['id'][:8]})": b["id"] for b in ctx.sync.cloud_bots}

    async def do_login(_event: object) -> None:
        try:
            await ctx.sync.login(
                (api_url.value or "").strip().rstrip("/"), (email.value or "").strip(), password.value or ""
            )
        except CloudError as exc:
            status.object = f'<p data-sync="login-failed" style="color:#b00">Login failed: {html.escape(str(exc))}</p>'
            return
        finally:
            password.value = ""
        await ctx.sync.run_once()
        refresh()

    async def do_sync(_event: object) -> None:
        await ctx.sync.run_once()
        refresh()

    async def show_audit(_event: object) -> None:
        saved = ctx.sync.store.load()
        if not audit_bot.value or saved is None:
            return
        client, http = ctx.sync.client(saved)
        try:
            records = await client.audit(audit_bot.value, limit=50)
        except CloudError as exc:
            audit_out.object = f"<p>Cannot read the audit now: {html.escape(str(exc))}</p>"
            return
        finally:
            await http.aclose()
        rows = "".join(
            f"<tr><td>{r['seq']}</td><td>{r['bar_at'][:10]}</td><td>{r['kind']}</td><td>{r['regime']}</td>"
            f"<td>{r['equity']}</td></tr>"
            for r in records
        )
        audit_out.object = _table(("seq", "bar", "kind", "regime", "equity"), rows)

    login_button.on_click(do_login)
    sync_now.on_click(do_sync)
    audit_bot.param.watch(show_audit, "value")
    refresh()
    pn.state.add_periodic_callback(refresh, period=2000)
    body = pn.Column(
        "## Cloud",
        status,
        pn.Row(api_url, email, password, login_button, sync_now),
        table,
        audit_bot,
        audit_out,
        sizing_mode="stretch_width",
    )
    return page(ctx, "cloud", body)
