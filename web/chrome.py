"""What every page shares: who is looking, the navigation, the health and incident banners,
phone-width layout."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn

from ui.page import apply_chrome
from web.api import ApiRejected, ApiUnreachable, SessionEnded, UserApi
from web.context import WebContext
from web.incident_words import INCIDENT_CSS, banner_html
from web.sessions import WebSession

CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.web-nav { display: flex; flex-wrap: wrap; gap: 0.4em 1.1em; align-items: center; padding: 6px 0 10px;
  border-bottom: 1px solid #d0d7de; }
.web-nav a { color: #0b4f8a; font-weight: 600; text-decoration: none; }
.web-nav a.current { color: #111; border-bottom: 2px solid #0b4f8a; }
.web-nav a:focus-visible, .web-actions a:focus-visible { outline: 3px solid #1d6fd1; outline-offset: 2px; }
.web-nav .brand { color: #111; font-weight: 700; margin-right: 0.8em; }
.web-nav .who { margin-left: auto; color: #333; }
table.web { border-collapse: collapse; font-size: 14px; width: 100%; }
table.web td, table.web th { border-bottom: 1px solid #d8dee4; padding: 5px 8px; text-align: left; }
table.web td.num, table.web th.num { text-align: right; font-variant-numeric: tabular-nums; }
.gain { color: #0a6b2d; } .loss { color: #b3261e; }
.badge { font-size: 12px; padding: 1px 6px; border-radius: 3px; border: 1px solid #777; color: #222; }
.badge.live { background: #b00020; color: #fff; border-color: #b00020; font-weight: 700; }
.empty { color: #333; background: #f4f6f8; padding: 12px 14px; border-radius: 6px; }
"""
PUBLIC_NAV = (("/", "Home"), ("/pricing", "Pricing"), ("/status", "Status"))
USER_NAV = (("/bots", "Bots"), ("/bots/new", "New bot"), ("/brokers", "Brokers"), ("/billing", "Billing"))


@dataclass
class Visitor:
    """Who is looking at a page: a logged-in user (with their API) or nobody."""

    session: WebSession | None
    api: UserApi | None

    @property
    def logged_in(self) -> bool:
        return self.session is not None and not self.session.ended


def visitor(ctx: WebContext) -> Visitor:
    """The user of the page being built, from the one-time ticket :mod:`web.server` gave it."""
    doc = pn.state.curdoc
    payload: dict[str, Any] = {}
    if doc is not None and doc.session_context is not None:
        try:
            payload = dict(getattr(doc.session_context, "token_payload", None) or {})
        except (AssertionError, ValueError):  # a session without a token (not served over HTTP)
            payload = {}
    session = ctx.sessions.redeem(payload.get("web_ticket"))
    if session is None:
        return Visitor(None, None)
    client_ip = payload.get("web_client_ip")
    api = UserApi(ctx.http, session, client_ip=client_ip if isinstance(client_ip, str) else None)
    return Visitor(session, api)


def nav_html(current: str, who: Visitor) -> str:
    links = [*PUBLIC_NAV[:1], *(USER_NAV if who.logged_in else PUBLIC_NAV[1:2]), ("/status", "Status")]
    if who.logged_in:
        links.insert(len(links) - 1, ("/pricing", "Pricing"))
    items = "".join(
        f'<a href="{href}" class="{"current" if href == current else ""}">{label}</a>' for href, label in links
    )
    if who.logged_in and who.session is not None:
        account = f'<span class="who">{html.escape(who.session.email)} · <a href="/logout">Log out</a></span>'
    else:
        account = '<span class="who"><a href="/login">Log in</a> · <a href="/signup">Sign up</a></span>'
    return f'<nav class="web-nav" aria-label="main"><span class="brand">HMM Trade</span>{items}{account}</nav>'


def frame(ctx: WebContext, current: str, who: Visitor, body: Any, *, title: str) -> pn.Column:
    """The page: navigation, the health banner (kept current), the body. Ends with the login."""
    apply_chrome()  # the phone viewport and the shared contrast and focus styles
    doc = pn.state.curdoc
    if doc is not None:
        doc.title = f"{title} · HMM Trade"
    nav = pn.pane.HTML(nav_html(current, who), stylesheets=[CSS], sizing_mode="stretch_width")
    banner = pn.pane.Alert(
        "", alert_type="warning", visible=False, css_classes=["web-banner"], sizing_mode="stretch_width"
    )

    def show_health() -> None:
        text = ctx.status.health.banner()
        banner.object = f"**Service notice.** {text} [Status](/status)" if text else ""
        banner.visible = bool(text)

    show_health()
    every(show_health, 1000)
    return pn.Column(
        nav, banner, incident_banner(ctx, who), body, sizing_mode="stretch_width", styles={"max-width": "1200px"}
    )


INCIDENT_POLL_MS = 1000  # pages look this often; the API is asked at most once per session per max age


def incident_banner(ctx: WebContext, who: Visitor) -> pn.pane.HTML:
    """The open incidents affecting a logged-in user, under the health banner (which says what is
    failing right now; this says what we know and are doing about it). Empty for visitors."""
    pane = pn.pane.HTML(
        banner_html([]) if not who.logged_in else banner_html(None),
        stylesheets=[CSS, INCIDENT_CSS],
        sizing_mode="stretch_width",
        margin=(0, 10),
        css_classes=["incident-slot"],
    )
    session, api = who.session, who.api
    if session is None or api is None:
        return pane

    async def show() -> None:
        if session.ended:
            pane.object = banner_html([])
            return
        snap = await ctx.incidents.mine(session, api)
        if isinstance(snap.error, SessionEnded):
            pane.object = banner_html([])
        elif snap.value is not None:  # a failed poll keeps what was shown (the health banner says why)
            shown = banner_html(snap.value)
            if shown != pane.object:
                pane.object = shown

    if pn.state.curdoc is not None:
        pn.state.onload(show)
    every(show, INCIDENT_POLL_MS)
    return pane


def every(callback: Callable[[], Any], period_ms: int) -> None:
    """Run ``callback`` periodically while the page is open (stopped with the page)."""
    if pn.state.curdoc is not None:
        pn.state.add_periodic_callback(callback, period=period_ms)


def on_close(who: Visitor, close: Callable[[], None]) -> None:
    """Run ``close`` once, when the page closes or its login ends (logout, expiry)."""
    done = False

    def once(*_args: object) -> None:
        nonlocal done
        if not done:
            done = True
            cancel()
            close()

    cancel = who.session.on_end(once) if who.session is not None else (lambda: None)
    if pn.state.curdoc is not None:
        pn.state.on_session_destroyed(once)


def login_needed(ctx: WebContext, current: str, who: Visitor, *, title: str) -> pn.Column:
    body = pn.pane.HTML(
        f'<div class="empty login-needed"><b>Log in to see this page.</b> '
        f'<a href="/login?next={html.escape(current)}">Log in</a> or <a href="/signup">create an account</a> '
        "(free: run bots on your own computer).</div>",
        stylesheets=[CSS],
        sizing_mode="stretch_width",
    )
    return frame(ctx, current, who, body, title=title)


def not_found_body(what: str) -> pn.pane.HTML:
    return pn.pane.HTML(
        f'<div class="empty not-found" data-status="404"><h2>404 · Not found</h2><p>{html.escape(what)}</p>'
        '<p><a href="/bots">Back to your bots</a></p></div>',
        stylesheets=[CSS],
        sizing_mode="stretch_width",
    )


def not_found(ctx: WebContext, current: str, who: Visitor, what: str) -> pn.Column:
    return frame(ctx, current, who, not_found_body(what), title="Not found")


def error_words(exc: Exception) -> str:
    """An API failure in words a user can act on."""
    if isinstance(exc, SessionEnded):
        return 'Your session ended. <a href="/login">Log in again</a>.'
    if isinstance(exc, ApiUnreachable):
        return "The service is not answering right now; this page retries by itself."
    if isinstance(exc, ApiRejected):
        return html.escape(exc.detail)
    return "Something went wrong; try again."
