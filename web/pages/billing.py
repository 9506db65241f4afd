"""``/billing``: the plan, its limits and usage; upgrade through Stripe Checkout; the customer portal;
the service credits for incidents (a section only when there are some).

Back from Checkout (``?checkout=success``) the page polls the API each second until the new
plan is in force (the payment reaches us as Stripe's webhook, a moment after the redirect),
so the user sees it without reloading. Leaving for Stripe is a navigation the server asks
the browser to make (a hidden field whose change the page follows), only to an http(s) URL
the API gave.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import panel as pn

from ui.format import date_label
from web.api import ApiError, UserApi, when
from web.chrome import CSS, Visitor, error_words, every, frame, login_needed, visitor
from web.context import WebContext
from web.credit_words import credits_html

CREDITS_CSS = """
ul.credits { padding-left: 1.2em; font-size: 14px; overflow-wrap: anywhere; }
ul.credits li { margin: 0 0 6px; }
"""
FOLLOW_JS = """
const url = cb_obj.value;
if (url && (url.startsWith('https://') || url.startsWith('http://'))) { window.location.assign(url); }
"""


def plan_html(billing: dict[str, Any]) -> str:
    limits, usage, sub = billing["limits"], billing["usage"], billing.get("subscription")
    hosted = (
        f"{usage['hosted_bots']} of {limits['max_hosted_bots']} hosted bots"
        if limits["hosted_allowed"]
        else "bots run on your own computer (hosted bots need Pro or Team)"
    )
    lines = [
        f'<p class="plan-now" data-plan="{html.escape(billing["plan"])}">Your plan: '
        f"<b>{html.escape(str(billing['plan']).title())}</b> · "
        f"{usage['bots']} of {limits['max_bots']} bots · {hosted}</p>"
    ]
    if sub:
        ends = date_label(when(sub.get("current_period_end")))
        verb = "ends" if sub.get("cancel_at_period_end") else "renews"
        lines.append(f"<p>Subscription {html.escape(str(sub['status']))} · {verb} {ends}</p>")
    if billing.get("status") == "past_due" and billing.get("grace_ends_at"):
        lines.append(
            f'<p class="loss">A payment failed. Your plan holds until {date_label(when(billing["grace_ends_at"]))}; '
            "update your card in the portal.</p>"
        )
    if billing.get("status") == "canceled":
        lines.append('<p class="plan-canceled">Your subscription was canceled: hosted bots are stopped.</p>')
    return "".join(lines)


class BillingView:
    def __init__(self, api: UserApi, *, returning: bool) -> None:
        self.api = api
        self.returning = returning
        self.plan = pn.pane.HTML(
            "<p>Loading…</p>", stylesheets=[CSS], sizing_mode="stretch_width", css_classes=["billing-plan"]
        )
        self.message = pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width", css_classes=["billing-message"])
        self.credits = pn.pane.HTML(
            "", stylesheets=[CSS, CREDITS_CSS], sizing_mode="stretch_width", css_classes=["billing-credits"]
        )
        self.credits.visible = False  # shown once there is a credit
        self.go = pn.widgets.TextInput(value="", visible=False)
        self.go.jscallback(value=FOLLOW_JS)
        self.upgrade_pro = pn.widgets.Button(name="Upgrade to Pro", button_type="primary", css_classes=["upgrade-pro"])
        self.upgrade_team = pn.widgets.Button(name="Upgrade to Team", css_classes=["upgrade-team"])
        self.portal = pn.widgets.Button(
            name="Manage subscription (Stripe portal)", css_classes=["billing-portal"], visible=False
        )
        self.upgrade_pro.on_click(self.on_pro)
        self.upgrade_team.on_click(self.on_team)
        self.portal.on_click(self.open_portal)
        self._key = uuid.uuid4().hex
        self.data: dict[str, Any] | None = None

    async def load(self) -> None:
        await self.load_credits()
        try:
            self.data = await self.api.billing()
        except ApiError as exc:
            self.message.object = f'<p class="loss">{error_words(exc)}</p>'
            return
        self.plan.object = plan_html(self.data)
        subscribed = self.data.get("subscription") is not None and self.data.get("status") != "canceled"
        self.upgrade_pro.visible = self.upgrade_team.visible = not subscribed
        self.portal.visible = self.data.get("subscription") is not None
        if self.returning:
            if self.data["plan"] != "free":
                title = html.escape(str(self.data["plan"]).title())
                self.message.object = f'<p class="gain plan-active">Payment received: you are on {title} now.</p>'
                self.returning = False
            else:
                self.message.object = '<p class="plan-activating">Payment received; activating your plan…</p>'

    async def load_credits(self) -> None:
        try:
            shown = credits_html(await self.api.credits())
        except ApiError:
            return  # the plan's own load says what failed; the credits come back with the next look
        if shown != self.credits.object:
            self.credits.object = shown
        self.credits.visible = bool(shown)

    async def on_pro(self, _event: object) -> None:
        await self.checkout("pro")

    async def on_team(self, _event: object) -> None:
        await self.checkout("team")

    async def checkout(self, plan: str) -> None:
        for button in (self.upgrade_pro, self.upgrade_team):
            button.disabled = True
        try:
            url = await self.api.checkout(plan, idempotency_key=f"web-checkout:{self._key}:{plan}")
        except ApiError as exc:
            self.message.object = f'<p class="loss">{error_words(exc)}</p>'
            for button in (self.upgrade_pro, self.upgrade_team):
                button.disabled = False
            return
        self.message.object = f'<p>Taking you to payment… <a href="{html.escape(url, quote=True)}">continue</a></p>'
        self.go.value = url

    async def open_portal(self, _event: object = None) -> None:
        try:
            url = await self.api.portal()
        except ApiError as exc:
            self.message.object = f'<p class="loss">{error_words(exc)}</p>'
            return
        self.go.value = url


def billing_page(ctx: WebContext) -> pn.Column:
    who: Visitor = visitor(ctx)
    if not who.logged_in or who.api is None:
        return login_needed(ctx, "/billing", who, title="Billing")
    arg = (pn.state.session_args.get("checkout") or [b""])[0] if pn.state.curdoc is not None else b""
    returning = arg == b"success"
    view = BillingView(who.api, returning=returning)
    if arg == b"canceled":
        view.message.object = "<p>Checkout was canceled; nothing was charged.</p>"
    pn.state.onload(view.load)
    every(view.load, 1000 if returning else 5000)
    body = pn.Column(
        "## Billing",
        view.message,
        view.plan,
        pn.FlexBox(view.upgrade_pro, view.upgrade_team, view.portal, flex_wrap="wrap"),  # wraps on a phone
        view.credits,
        view.go,
        pn.pane.HTML('<p><a href="/pricing">Compare plans</a></p>', stylesheets=[CSS]),
        sizing_mode="stretch_width",
    )
    return frame(ctx, "/billing", who, body, title="Billing")
