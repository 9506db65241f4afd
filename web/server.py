"""The web app's server: Panel pages, the login forms, and how a page learns who is looking.

A page is a Bokeh document whose connection token is embedded in the HTML (page scripts can
read it), so the token never carries the session cookie: cookies and the Cookie header are
left out of it, and :class:`SessionTicket` adds a one-time ticket instead, which the page
redeems while it is built. Page-session ids are signed with the app's secret, so a crafted
websocket token cannot open a session the server did not hand out, and the websocket's
Origin must be this app's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import panel as pn
from bokeh.application.handlers.handler import Handler
from bokeh.document import Document
from panel.io.application import build_applications
from tornado.httputil import HTTPServerRequest

from web.auth_pages import LoginHandler, LogoutHandler, SignupHandler
from web.context import WebContext
from web.pages.billing import billing_page
from web.pages.bot import bot_page
from web.pages.bots import bots_page
from web.pages.brokers import brokers_page
from web.pages.new_bot import new_bot_page
from web.pages.public import landing_page, pricing_page
from web.pages.status import status_page
from web.sessions import COOKIE, SessionStore


class SessionTicket(Handler):
    """Adds a one-time ticket for the visitor's session (if any) to each new page's token."""

    def __init__(self, sessions: SessionStore) -> None:
        super().__init__()
        self._sessions = sessions

    def modify_document(self, doc: Document) -> None:
        return None

    def process_request(self, request: HTTPServerRequest) -> dict[str, Any]:
        cookie = request.cookies.get(COOKIE)
        session = self._sessions.get(cookie.value if cookie else None)
        if session is None:
            return {}
        return {"web_ticket": self._sessions.ticket(session.sid), "web_client_ip": request.remote_ip}


def pages(ctx: WebContext) -> dict[str, Callable[[], Any]]:
    """URL -> page. ``/bots/new`` comes before ``/bots/{bot_id}``: the first matching route wins."""
    table: dict[str, Callable[[WebContext], Any]] = {
        "/": landing_page,
        "/pricing": pricing_page,
        "/status": status_page,
        "/bots": bots_page,
        "/bots/new": new_bot_page,
        "/bots/{bot_id}": bot_page,
        "/brokers": brokers_page,
        "/billing": billing_page,
    }
    return {path: _bind(build, ctx) for path, build in table.items()}


def _bind(build: Callable[[WebContext], Any], ctx: WebContext) -> Callable[[], Any]:
    return lambda: build(ctx)


def allowed_origins(ctx: WebContext, address: str, port: int) -> list[str]:
    public = urlsplit(ctx.settings.origin(address, port)).netloc
    return sorted({public, f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})


def make_web_server(ctx: WebContext, *, port: int, address: str = "127.0.0.1") -> Any:
    """A Panel server on the running event loop (call ``.start()``; ``.stop()`` at the end)."""
    pn.extension("tabulator", design=None, inline=False)
    applications = build_applications(cast(Any, pages(ctx)), title="HMM Trade")
    for application in applications.values():
        application.add(SessionTicket(ctx.sessions))
    forms = {"ctx": ctx}
    return pn.serve(
        applications,
        port=port,
        address=address,
        show=False,
        start=False,
        title="HMM Trade",
        websocket_origin=allowed_origins(ctx, address, port),
        extra_patterns=[
            (r"/login", LoginHandler, forms),
            (r"/signup", SignupHandler, forms),
            (r"/logout", LogoutHandler, forms),
        ],
        include_cookies=[],
        exclude_headers=["Cookie", "Authorization"],
        secret_key=ctx.settings.signing_secret or secrets.token_urlsafe(32),
        sign_sessions=True,
        generate_session_ids=True,
        xsrf_cookies=False,  # the forms check XSRF themselves; Bokeh's own handlers post nothing
    )
