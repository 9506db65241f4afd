"""``/brokers``: the account's broker connections — list, connect, revoke.

Secrets are typed once: the form sends them to the API (which seals them under KMS before
they leave its memory) and clears its fields whatever the answer; no page ever shows them
again. One idempotency key per filled-in form, so a double click connects once.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import panel as pn

from ui.format import datetime_label
from ui.wizard_confirm import ConfirmBox
from web.api import ApiError, ApiRejected, UserApi, when
from web.chrome import CSS, Visitor, error_words, every, frame, login_needed, visitor
from web.context import WebContext

FIELDS = {
    "label": "Label",
    "api_key_id": "API key ID",
    "api_secret_key": "API secret key",
    "exchange": "Exchange",
    "api_key": "API key",
    "api_secret": "API secret",
    "passphrase": "Passphrase",
}


def account_words(c: dict[str, Any]) -> str:
    if c.get("paper") is True:
        return "paper" if c["kind"] != "exchange" else "sandbox (paper)"
    if c.get("paper") is False:
        return '<span class="badge live">LIVE · real money</span>'
    return "unknown: reconnect it"


def connections_html(connections: list[dict[str, Any]]) -> str:
    if not connections:
        return (
            '<div class="empty brokers-empty">No broker connected yet. Connect an Alpaca or exchange account '
            "below to trade it; bots can always paper-trade on the built-in simulator without one.</div>"
        )
    rows = "".join(
        f'<tr data-connection="{c["id"]}"><td><b>{html.escape(c["label"])}</b></td>'
        f"<td>{html.escape(c['kind'] + (' ' + c['exchange'] if c.get('exchange') else ''))}</td>"
        f"<td>{account_words(c)}</td><td>{datetime_label(when(c['created_at']))}</td>"
        f"<td>{datetime_label(when(c['last_used_at'])) if c.get('last_used_at') else 'never'}</td></tr>"
        for c in connections
    )
    return (
        '<table class="web connections"><thead><tr><th>Label</th><th>Venue</th><th>Account</th><th>Connected</th>'
        f"<th>Last used</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def field_of(error: dict[str, Any]) -> str:
    loc = [str(x) for x in error.get("loc", []) if x not in ("body", "credentials")]
    return loc[-1] if loc else "form"


class BrokersView:
    def __init__(self, api: UserApi) -> None:
        self.api = api
        self.table = pn.pane.HTML("<p>Loading…</p>", stylesheets=[CSS], sizing_mode="stretch_width")
        self.revoke_row = pn.Row(sizing_mode="stretch_width")
        self.message = pn.pane.HTML("", stylesheets=[CSS], css_classes=["brokers-message"], sizing_mode="stretch_width")
        self.connections: list[dict[str, Any]] = []
        self.kind = pn.widgets.Select(name="Broker", options={"Alpaca": "alpaca", "Crypto exchange (ccxt)": "exchange"})
        self.w: dict[str, Any] = {
            "label": pn.widgets.TextInput(name="Label", placeholder="e.g. My Alpaca paper", css_classes=["bk-label"]),
            "api_key_id": pn.widgets.TextInput(name="API key ID", css_classes=["bk-key-id"]),
            "api_secret_key": pn.widgets.PasswordInput(name="API secret key", css_classes=["bk-secret"]),
            # a box inside a real <label>: Bokeh's Checkbox left the input unnamed (axe: critical)
            "paper": ConfirmBox(label="Paper account (uncheck for a live account: real money)", value=True),
            "exchange": pn.widgets.TextInput(
                name="Exchange", placeholder="e.g. binance, kraken", css_classes=["bk-exchange"]
            ),
            "api_key": pn.widgets.PasswordInput(name="API key", css_classes=["bk-api-key"]),
            "api_secret": pn.widgets.PasswordInput(name="API secret", css_classes=["bk-api-secret"]),
            "passphrase": pn.widgets.PasswordInput(name="Passphrase (if the exchange has one)"),
            "sandbox": ConfirmBox(label="Sandbox / test network (paper)", value=True),
        }
        self.errors = {k: pn.pane.HTML("", stylesheets=[CSS], css_classes=[f"err-{k}"]) for k in [*FIELDS, "form"]}
        self.submit = pn.widgets.Button(name="Connect", button_type="primary", css_classes=["bk-connect"])
        self.submit.on_click(self.on_connect)
        self.kind.param.watch(lambda _e: self._layout(), "value")
        self.form = pn.Column(sizing_mode="stretch_width", css_classes=["broker-form"])
        self._key = uuid.uuid4().hex
        self._layout()

    def _layout(self) -> None:
        names = (
            ("label", "api_key_id", "api_secret_key", "paper")
            if self.kind.value == "alpaca"
            else ("label", "exchange", "api_key", "api_secret", "passphrase", "sandbox")
        )
        items: list[Any] = [self.kind]
        for name in names:
            items.append(self.w[name])
            if name in self.errors:
                items.append(self.errors[name])
        self.form.objects = [*items, self.errors["form"], self.submit]

    def body(self) -> dict[str, Any]:
        v = {k: w.value for k, w in self.w.items()}
        if self.kind.value == "alpaca":
            credentials: dict[str, Any] = {
                "api_key_id": v["api_key_id"],
                "api_secret_key": v["api_secret_key"],
                "paper": bool(v["paper"]),
            }
        else:
            credentials = {
                "exchange": v["exchange"].strip().lower(),
                "api_key": v["api_key"],
                "api_secret": v["api_secret"],
                "sandbox": bool(v["sandbox"]),
            }
            if v["passphrase"]:
                credentials["passphrase"] = v["passphrase"]
        return {"kind": self.kind.value, "label": v["label"].strip(), "credentials": credentials}

    def _clear_secrets(self) -> None:
        for name in ("api_secret_key", "api_key", "api_secret", "passphrase"):
            self.w[name].value = ""

    async def on_connect(self, _event: object) -> None:
        self.submit.disabled = True
        for pane in self.errors.values():
            pane.object = ""
        try:
            await self.api.connect_broker(self.body(), idempotency_key=f"web-broker:{self._key}")
        except ApiRejected as exc:
            self._clear_secrets()  # typed once: a retry types them again
            shown = False
            for error in exc.errors:
                field = field_of(error)
                pane = self.errors.get(field, self.errors["form"])
                label = FIELDS.get(field, "")
                msg = str(error.get("msg", exc.detail)).removeprefix("Value error, ")
                pane.object = (
                    f'<p class="loss field-error">{html.escape(label + ": " if label else "")}{html.escape(msg)}</p>'
                )
                shown = True
            if not shown:
                self.errors["form"].object = f'<p class="loss field-error">{html.escape(exc.detail)}</p>'
            self.submit.disabled = False
            return
        except ApiError as exc:
            self.errors[
                "form"
            ].object = f'<p class="loss">{error_words(exc)} Your secrets were not kept: type them again.</p>'
            self._clear_secrets()
            self.submit.disabled = False
            return
        label = self.w["label"].value
        self._clear_secrets()
        self.w["label"].value = ""
        self.w["api_key_id"].value = self.w["exchange"].value = ""
        self._key = uuid.uuid4().hex  # the next connection is a new one
        self.submit.disabled = False
        self.message.object = f'<p class="gain broker-connected">Connecting <b>{html.escape(label)}</b>…</p>'
        await self.load()

    async def load(self) -> None:
        try:
            self.connections = await self.api.connections()
        except ApiError as exc:
            self.table.object = f'<p class="loss">{error_words(exc)}</p>'
            return
        fresh = connections_html(self.connections)
        if fresh != self.table.object:  # an open "revoke?" question survives the periodic reload
            self.table.object = fresh
            self._revoke_buttons()

    def _revoke_buttons(self) -> None:
        rows: list[Any] = []
        for c in self.connections:
            ask = pn.widgets.Button(name=f"Revoke {c['label']}…", css_classes=["bk-revoke"])
            yes = pn.widgets.Button(
                name=f"Yes, revoke {c['label']}", button_type="danger", visible=False, css_classes=["bk-revoke-yes"]
            )
            ask.on_click(_shower(yes))
            yes.on_click(self._revoker(str(c["id"]), c["label"], yes))
            rows.append(pn.FlexBox(ask, yes, flex_wrap="wrap"))
        self.revoke_row.objects = [pn.Column(*rows)] if rows else []

    def _revoker(self, connection_id: str, label: str, button: pn.widgets.Button) -> Any:
        async def revoke(_event: object) -> None:
            button.disabled = True
            try:
                await self.api.revoke_broker(connection_id)
            except ApiError as exc:
                self.message.object = f'<p class="loss">{html.escape(label)}: {error_words(exc)}</p>'
                button.disabled = False
                return
            self.message.object = (
                f'<p class="broker-revoked">Revoked <b>{html.escape(label)}</b>: bots using it stop at their next '
                "start.</p>"
            )
            await self.load()

        return revoke


def _shower(widget: Any) -> Any:
    def show(_event: object) -> None:
        widget.visible = True

    return show


def brokers_page(ctx: WebContext) -> pn.Column:
    who: Visitor = visitor(ctx)
    if not who.logged_in or who.api is None:
        return login_needed(ctx, "/brokers", who, title="Broker connections")
    view = BrokersView(who.api)
    pn.state.onload(view.load)
    every(view.load, 5000)
    body = pn.Column(
        "## Broker connections",
        view.message,
        view.table,
        view.revoke_row,
        "### Connect an account",
        pn.pane.HTML(
            "<p>Keys are encrypted before they are stored and are never shown again. Use paper keys first.</p>",
            stylesheets=[CSS],
        ),
        view.form,
        sizing_mode="stretch_width",
    )
    return frame(ctx, "/brokers", who, body, title="Broker connections")
