"""Sign up, log in, log out: plain HTML forms served by Tornado, because only an HTTP answer can set
the session cookie.

Every POST carries Tornado's XSRF token (a cookie and a matching form field, so another site
cannot post these forms for a visitor) and the session cookie is HttpOnly and SameSite=Lax
(Secure when the app is served over https). Errors are shown next to the field they concern.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

import httpx
from tornado.web import RequestHandler

from web.api import ApiRejected, ApiUnreachable, public_call
from web.chrome import CSS
from web.context import WebContext
from web.sessions import COOKIE

FIELD_LABELS = {"email": "Email", "password": "Password"}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (never an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/bots"
    parts = urlsplit(target)
    return "/bots" if parts.scheme or parts.netloc else target


def field_errors(exc: ApiRejected) -> dict[str, str]:
    """The API's per-field errors keyed by form field; the rest under ``form``."""
    out: dict[str, str] = {}
    for error in exc.errors:
        loc = [str(x) for x in error.get("loc", []) if x != "body"]
        field = loc[0] if loc and loc[0] in FIELD_LABELS else "form"
        msg = str(error.get("msg", exc.detail)).removeprefix("Value error, ")
        out.setdefault(field, f"{FIELD_LABELS.get(field, 'Form')}: {msg}")
    return out or {"form": exc.detail}


class _FormHandler(RequestHandler):
    ctx: WebContext

    def initialize(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")

    def page(self, title: str, body: str, *, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)} · HMM Trade</title><style>{CSS.replace(':host', 'body')}"
            "body{max-width:28rem;margin:2rem auto;padding:0 1rem}label{display:block;margin-top:1rem;font-weight:600}"
            "input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;margin-top:.25rem}"
            "button{margin-top:1.2rem;padding:.55rem 1.2rem;font-size:1rem;background:#0b4f8a;color:#fff;border:0;"
            "border-radius:4px}button:focus-visible,input:focus-visible{outline:3px solid #1d6fd1}"
            ".field-error{color:#b3261e;margin:.25rem 0 0}.form-error{color:#b3261e}</style></head><body>"
            f"<p><a href='/'>HMM Trade</a> · <a href='/pricing'>Pricing</a> · <a href='/status'>Status</a></p>"
            f"<h1>{html.escape(title)}</h1>{body}</body></html>"
        )

    def client_ip(self) -> str:
        return self.request.remote_ip or "unknown"

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": self.client_ip(), **kwargs.pop("headers", {})}
        return await public_call(self.ctx.http, method, path, headers=headers, **kwargs)

    def start_session(self, *, user_id: str, email: str, pair: dict[str, Any]) -> None:
        session = self.ctx.sessions.create(
            user_id=user_id, email=email, access_token=pair["access_token"], refresh_token=pair["refresh_token"]
        )
        self.set_cookie(
            COOKIE,
            session.sid,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.ctx.settings.secure_cookies,
        )


def _form(action: str, xsrf: str, fields: str, button: str, errors: dict[str, str]) -> str:
    top = f"<p class='form-error' role='alert'>{html.escape(errors['form'])}</p>" if "form" in errors else ""
    form = f"<form method='post' action='{action}' novalidate>{xsrf}{fields}"
    return f"{top}{form}<button type='submit'>{button}</button></form>"


def _input(name: str, kind: str, value: str, errors: dict[str, str], autocomplete: str) -> str:
    error = errors.get(name)
    described = f" aria-invalid='true' aria-describedby='{name}-error'" if error else ""
    shown = f"<p class='field-error' id='{name}-error'>{html.escape(error)}</p>" if error else ""
    return (
        f"<label for='{name}'>{FIELD_LABELS[name]}</label><input id='{name}' name='{name}' type='{kind}' "
        f"value='{html.escape(value, quote=True)}' autocomplete='{autocomplete}' required{described}>{shown}"
    )


class SignupHandler(_FormHandler):
    def get(self) -> None:
        self.show("", {})

    def show(self, email: str, errors: dict[str, str], *, status: int = 200) -> None:
        fields = _input("email", "email", email, errors, "email") + _input(
            "password", "password", "", errors, "new-password"
        )
        body = (
            "<p>Free: run bots on your own computer. Upgrade any time for hosted bots.</p>"
            + _form("/signup", self.xsrf_form_html(), fields, "Create account", errors)
            + "<p>Already have an account? <a href='/login'>Log in</a></p>"
        )
        self.page("Create your account", body, status=status)

    async def post(self) -> None:
        self.check_xsrf_cookie()
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        credentials = {"email": email, "password": password}
        try:
            await self.api("POST", "/api/v1/auth/signup", json=credentials)
            pair = (await self.api("POST", "/api/v1/auth/login", json=credentials)).json()
            me = await self._me(pair)
        except ApiRejected as exc:
            self.show(email, field_errors(exc), status=exc.status if exc.status in (409, 422, 429) else 400)
            return
        except ApiUnreachable:
            self.show(email, {"form": "The service is not answering; try again in a moment."}, status=503)
            return
        self.start_session(user_id=str(me["id"]), email=str(me["email"]), pair=pair)
        self.redirect("/bots?welcome=1")

    async def _me(self, pair: dict[str, Any]) -> dict[str, Any]:
        response = await self.api("GET", "/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        return dict(response.json())


class LoginHandler(SignupHandler):
    def get(self) -> None:
        self.show("", {})

    def show(self, email: str, errors: dict[str, str], *, status: int = 200) -> None:
        target = safe_next(self.get_argument("next", None))
        fields = (
            _input("email", "email", email, errors, "email")
            + _input("password", "password", "", errors, "current-password")
            + f"<input type='hidden' name='next' value='{html.escape(target, quote=True)}'>"
        )
        body = _form("/login", self.xsrf_form_html(), fields, "Log in", errors) + (
            "<p>New here? <a href='/signup'>Create an account</a></p>"
        )
        self.page("Log in", body, status=status)

    async def post(self) -> None:
        self.check_xsrf_cookie()
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        try:
            pair = (await self.api("POST", "/api/v1/auth/login", json={"email": email, "password": password})).json()
            me = await self._me(pair)
        except ApiRejected as exc:
            errors = {"password": "Wrong email or password."} if exc.status == 401 else field_errors(exc)
            self.show(email, errors, status=exc.status if exc.status in (401, 422, 429) else 400)
            return
        except ApiUnreachable:
            self.show(email, {"form": "The service is not answering; try again in a moment."}, status=503)
            return
        self.start_session(user_id=str(me["id"]), email=str(me["email"]), pair=pair)
        self.redirect(safe_next(self.get_body_argument("next", None)))


class LogoutHandler(_FormHandler):
    def get(self) -> None:
        if self.ctx.sessions.get(self.get_cookie(COOKIE)) is None:
            self.redirect("/")
            return
        self.page(
            "Log out",
            _form("/logout", self.xsrf_form_html(), "<p>Log out of HMM Trade on this browser?</p>", "Log out", {}),
        )

    def post(self) -> None:
        self.check_xsrf_cookie()
        sid = self.get_cookie(COOKIE)
        if sid:
            self.ctx.sessions.end(sid)
        self.clear_cookie(COOKIE, path="/")
        self.redirect("/")
