"""Cloud page: log in, sync status (and the reconnect prompt), the cloud bot list with hosted
bots' status, and one bot's audit trail from the API."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import panel as pn

from agent.cloud import CloudError
from agent.dashboard.common import CSS, mode_badge, page
from agent.dashboard.context import AgentContext

AUDIT_PAGE = 200  # records per API call
AUDIT_PAGES_PER_REFRESH = 5  # a long backlog fills in over a few refreshes instead of one slow one
AUDIT_KEPT = 1000
AUDIT_SHOWN = 50
AUDIT_REFRESH_MS = 3000


def bots_table(bots: list[dict[str, Any]]) -> str:
    if not bots:
        return "<p>No bots in the cloud account yet.</p>"
    rows = "".join(
        f'<tr class="cloud-bot" data-bot="{b["id"]}" data-status="{b["status"]}">'
        f"<td>{html.escape(b['name'])}</td><td>{b['surface']}</td><td>{mode_badge(b['mode'])}</td>"
        f'<td class="cloud-status">{b["status"]}</td>'
        f"<td>{html.escape(b.get('status_reason') or '')}</td><td>{b['id']}</td></tr>"
        for b in bots
    )
    return _table(("name", "surface", "mode", "status", "why", "id"), rows)


@dataclass
class AuditTrail:
    """The records of one cloud bot fetched so far in this page (the newest ``AUDIT_KEPT``)."""

    bot_id: str | None = None
    last_seq: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    busy: bool = False

    def reset(self, bot_id: str) -> None:
        self.bot_id, self.last_seq, self.records = bot_id, 0, []

    def add(self, records: list[dict[str, Any]]) -> None:
        self.records = (self.records + records)[-AUDIT_KEPT:]
        if records:
            self.last_seq = int(records[-1]["seq"])


def audit_table(trail: AuditTrail) -> str:
    """Newest first: what the hosted bot decided, as the cloud stored it."""
    if not trail.records:
        return '<p class="cloud-audit-count" data-count="0">No audit records from this bot yet.</p>'
    rows = "".join(
        f'<tr class="cloud-audit-row" data-seq="{r["seq"]}" data-regime="{_text(r.get("regime"))}">'
        f"<td>{r['seq']}</td><td>{html.escape(str(r['bar_at'])[:10])}</td><td>{html.escape(str(r['kind']))}</td>"
        f"<td>{_text(r.get('regime'))}</td><td>{_money(r.get('equity'))}</td></tr>"
        for r in reversed(trail.records[-AUDIT_SHOWN:])
    )
    count = (
        f'<p class="cloud-audit-count" data-count="{trail.last_seq}">'
        f"Records through seq {trail.last_seq}; the newest {min(AUDIT_SHOWN, len(trail.records))} shown</p>"
    )
    return count + _table(("seq", "bar", "kind", "regime", "equity"), rows)


def _money(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else ""


def _text(value: object) -> str:
    return "" if value is None else html.escape(str(value))


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
    # Its own pane: the status line is rewritten every 2 s and used to wipe the error within a second
    login_error = pn.pane.HTML("", css_classes=["cloud-login-error"], sizing_mode="stretch_width")
    table = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS])
    audit_bot = pn.widgets.Select(
        name="Audit of cloud bot",
        options=[],
        sizing_mode="stretch_width",
        max_width=420,
        css_classes=["cloud-audit-bot"],
    )
    audit_out = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS], css_classes=["cloud-audit"])
    trail = AuditTrail()

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
        except CloudError as exc:  # stays until the next login attempt
            login_error.object = f'<p role="alert" style="color:#b00020">Login failed: {html.escape(str(exc))}</p>'
            return
        finally:
            password.value = ""
        login_error.object = ""
        await ctx.sync.run_once()
        refresh()

    async def do_sync(_event: object) -> None:
        await ctx.sync.run_once()
        refresh()

    async def show_audit() -> None:
        """Fetch the selected bot's records past the last one shown (the audit grows while it runs)."""
        saved = ctx.sync.store.load()
        bot_id = audit_bot.value
        if not bot_id or saved is None or trail.busy:
            return
        if trail.bot_id != bot_id:
            trail.reset(bot_id)
        trail.busy = True  # a slow cloud must not stack up overlapping refreshes
        client, http = ctx.sync.client(saved)
        try:
            for _ in range(AUDIT_PAGES_PER_REFRESH):
                records = await client.audit(bot_id, after=trail.last_seq, limit=AUDIT_PAGE)
                if audit_bot.value != bot_id:
                    return  # another bot was chosen meanwhile: the next refresh starts on it
                trail.add(records)
                if len(records) < AUDIT_PAGE:
                    break
        except CloudError as exc:
            audit_out.object = f'<p class="cloud-audit-error">Cannot read the audit now: {html.escape(str(exc))}</p>'
            return
        finally:
            trail.busy = False
            await http.aclose()
        audit_out.object = audit_table(trail)

    login_button.on_click(do_login)
    sync_now.on_click(do_sync)

    async def on_pick(_event: object) -> None:
        await show_audit()

    audit_bot.param.watch(on_pick, "value")
    refresh()
    pn.state.add_periodic_callback(refresh, period=2000)
    # Panel awaits coroutine functions here (panel/io/callbacks.py), though its type hint omits them
    pn.state.add_periodic_callback(show_audit, period=AUDIT_REFRESH_MS)  # type: ignore[arg-type]
    body = pn.Column(
        "## Cloud",
        status,
        login_error,
        pn.FlexBox(api_url, email, password, login_button, sync_now, flex_wrap="wrap", align_items="flex-end"),
        table,
        audit_bot,
        audit_out,
        sizing_mode="stretch_width",
    )
    return page(ctx, "cloud", body)
