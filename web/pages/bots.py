"""``/bots``: the user's bots at a glance, updated live, with start / stop / delete.

The list comes from the API (refreshed every few seconds and after every action); the
numbers move with each tick the bus brings for *these* bots only. Delete asks first and
names the bot. Buttons follow the bot's state (no Start on a running bot).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import panel as pn

from ui.bots_table import risk_html as risk_cell
from ui.charts import STOPPED
from ui.format import money, pct, signed_money
from ui.regimes import named_exposures, regime_names
from web.api import ApiError, UserApi
from web.chrome import CSS, Visitor, error_words, every, frame, login_needed, on_close, visitor
from web.context import WebContext
from web.live import LiveHub

LIVE_WITHIN_S = 30.0
STARTABLE = {"stopped", "failed"}
STOPPABLE = {"running", "starting"}


def usage_line(billing: dict[str, Any]) -> str:
    limits, usage = billing["limits"], billing["usage"]
    hosted = (
        f"{usage['hosted_bots']} of {limits['max_hosted_bots']} hosted bots"
        if limits["hosted_allowed"]
        else "no hosted bots on this plan"
    )
    return (
        f'<p class="plan-usage">Plan <b>{html.escape(str(billing["plan"]).title())}</b>: {usage["bots"]} of '
        f'{limits["max_bots"]} bots · {hosted} · <a href="/billing">Change plan</a></p>'
    )


def status_words(bot: dict[str, Any]) -> str:
    status = str(bot["status"])
    reason = bot.get("status_reason")
    text = f"<b>{html.escape(status)}</b>"
    if reason and status not in ("running",):
        text += f' <span class="reason">· {html.escape(str(reason))}</span>'
    return text


def numbers(bot: dict[str, Any], hub: LiveHub) -> dict[str, str]:
    """Regime, equity and P&L from the newest tick this server saw for the bot."""
    tick = hub.last_tick(str(bot["id"]))
    if tick is None:
        return {"regime": "–", "equity": "–", "pnl": "–", "last": "no bar yet"}
    profile = bot["profile"]
    names = regime_names(named_exposures(profile["strategy"]["exposure_per_regime"], profile["model"]["n_states"]))
    regime = "–"
    if tick.regime is not None:
        regime = names[tick.regime] if tick.regime < len(names) else f"Regime {tick.regime}"
        if tick.confidence is not None:
            regime += f" ({pct(tick.confidence, decimals=0)})"
    start = float(bot["profile"]["schedule"]["starting_cash"])
    pnl = "–"
    if tick.equity is not None:
        change = tick.equity - start
        words = f"{signed_money(change)} ({pct(change / start, signed=True)})"
        pnl = f'<span class="{"gain" if change >= 0 else "loss"}">{words}</span>'
    return {
        "regime": html.escape(regime),
        "equity": money(tick.equity),
        "pnl": pnl,
        "last": f"bar {tick.bar_at:%Y-%m-%d %H:%M}",
    }


def risk_html(bot: dict[str, Any]) -> str:
    """The API's risk state of the bot (from its newest stored record) as a badge; empty when trading."""
    risk = bot.get("risk") or {}
    since = risk.get("since")
    if risk.get("status") not in STOPPED:
        return ""  # the row says nothing about a trading bot's risk: only a stopped one must stand out
    return risk_cell(
        {
            "risk": risk["status"],
            "risk_reason": risk.get("reason"),
            "risk_since": datetime.fromisoformat(since) if since else None,
        }
    )


def bot_row(bot: dict[str, Any], hub: LiveHub) -> str:
    n = numbers(bot, hub)
    mode = '<span class="badge live">LIVE</span>' if bot["mode"] == "live" else '<span class="badge">paper</span>'
    symbols = ", ".join(bot["profile"]["market"]["symbols"])
    return (
        f'<div class="bot-row" data-bot="{bot["id"]}" data-status="{html.escape(str(bot["status"]))}">'
        f'<a href="/bots/{bot["id"]}"><b>{html.escape(bot["name"])}</b></a> {mode} '
        f'<span class="symbols">{html.escape(symbols)}</span> · {html.escape(bot["surface"])}<br>{risk_html(bot)}'
        f"{status_words(bot)} · regime <b>{n['regime']}</b> · equity <b>{n['equity']}</b> · P&amp;L {n['pnl']}"
        f' · <span class="last">{n["last"]}</span></div>'
    )


class BotsView:
    """The table's rows and their buttons for one page; rebuilt from the API, numbers pushed live."""

    def __init__(self, ctx: WebContext, api: UserApi) -> None:
        self.ctx, self.api = ctx, api
        self.usage = pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width")
        self.message = pn.pane.HTML("", stylesheets=[CSS], css_classes=["bots-message"], sizing_mode="stretch_width")
        self.rows = pn.Column(sizing_mode="stretch_width", css_classes=["bots-list"])
        self.bots: dict[str, dict[str, Any]] = {}
        self.cells: dict[str, pn.pane.HTML] = {}
        self._unwatch: dict[str, Callable[[], None]] = {}
        self._busy = False
        self._loaded = False

    async def load(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            bots = await self.api.bots()
            billing = await self.api.billing()
        except ApiError as exc:
            self.message.object = f'<p class="loss">{error_words(exc)}</p>'
            return
        finally:
            self._busy = False
        if "not answering" in str(self.message.object):
            self.message.object = ""
        self.usage.object = usage_line(billing)
        fresh = {str(b["id"]): b for b in bots}
        if (
            not self._loaded
            or fresh.keys() != self.bots.keys()
            or any(
                (b["status"], b.get("status_reason"), b.get("risk"))
                != (self.bots[i]["status"], self.bots[i].get("status_reason"), self.bots[i].get("risk"))
                for i, b in fresh.items()
            )
        ):
            self.bots, self._loaded = fresh, True
            self._rebuild()

    def _rebuild(self) -> None:
        for bot_id in [b for b in self._unwatch if b not in self.bots]:
            self._unwatch.pop(bot_id)()
        if not self.bots:
            self.rows.objects = [
                pn.pane.HTML(
                    '<div class="empty bots-empty">No bots yet. <a href="/bots/new">Create your first bot</a>: '
                    "six short steps, paper trading by default.</div>",
                    stylesheets=[CSS],
                    sizing_mode="stretch_width",
                )
            ]
            return
        rows = []
        for bot_id, bot in self.bots.items():
            cell = pn.pane.HTML(bot_row(bot, self.ctx.hub), stylesheets=[CSS], sizing_mode="stretch_width")
            self.cells[bot_id] = cell
            if bot_id not in self._unwatch:
                self._unwatch[bot_id] = self.ctx.hub.watch(bot_id, self._on_live(bot_id))
            rows.append(pn.Column(cell, self._buttons(bot), sizing_mode="stretch_width"))
        self.rows.objects = rows

    def _on_live(self, bot_id: str) -> Callable[[str, Any], None]:
        doc = pn.state.curdoc
        pending = False

        def redraw() -> None:
            nonlocal pending
            pending = False
            bot = self.bots.get(bot_id)
            if bot is not None and bot_id in self.cells:
                self.cells[bot_id].object = bot_row(bot, self.ctx.hub)

        def on_message(kind: str, _message: Any) -> None:
            nonlocal pending
            if kind == "event":
                if doc is not None:
                    doc.add_next_tick_callback(cast(Any, self.load))  # Bokeh awaits coroutine callbacks
                return
            if pending or doc is None or kind != "tick":
                return
            pending = True  # a burst of ticks redraws once
            doc.add_next_tick_callback(redraw)

        return on_message

    def _buttons(self, bot: dict[str, Any]) -> pn.FlexBox:
        bot_id, status = str(bot["id"]), str(bot["status"])
        start = pn.widgets.Button(name="Start", disabled=status not in STARTABLE, css_classes=["bot-start"], width=80)
        stop = pn.widgets.Button(name="Stop", disabled=status not in STOPPABLE, css_classes=["bot-stop"], width=80)
        delete = pn.widgets.Button(name="Delete…", css_classes=["bot-delete"], width=90)
        confirm = pn.FlexBox(visible=False, flex_wrap="wrap", css_classes=["bot-confirm"])
        yes = pn.widgets.Button(name=f"Yes, delete {bot['name']}", button_type="danger", css_classes=["bot-delete-yes"])
        no = pn.widgets.Button(name="Cancel", css_classes=["bot-delete-no"])
        confirm.objects = [
            pn.pane.HTML(
                f"<span>Delete <b>{html.escape(bot['name'])}</b>? It stops trading and its slot is freed; its audit "
                "is kept.</span>",
                stylesheets=[CSS],
            ),
            yes,
            no,
        ]

        async def act(action: str, button: pn.widgets.Button) -> None:
            button.disabled = True  # one click, one request
            try:
                await self.api.lifecycle(bot_id, action)
            except ApiError as exc:
                self.message.object = f'<p class="loss">{html.escape(bot["name"])}: {error_words(exc)}</p>'
                button.disabled = False
                return
            verb = {"start": "Starting", "stop": "Stopping", "delete": "Deleting"}[action]
            self.message.object = f'<p class="bots-done">{verb} <b>{html.escape(bot["name"])}</b>…</p>'
            confirm.visible = False
            await self.load()

        async def on_start(_e: object) -> None:
            await act("start", start)

        async def on_stop(_e: object) -> None:
            await act("stop", stop)

        async def on_yes(_e: object) -> None:
            await act("delete", yes)

        def on_delete(_e: object) -> None:
            confirm.visible = True

        def on_no(_e: object) -> None:
            confirm.visible = False

        start.on_click(on_start)
        stop.on_click(on_stop)
        delete.on_click(on_delete)
        yes.on_click(on_yes)
        no.on_click(on_no)
        return pn.FlexBox(start, stop, delete, confirm, flex_wrap="wrap", sizing_mode="stretch_width")

    def close(self) -> None:
        for stop in self._unwatch.values():
            stop()
        self._unwatch.clear()


def bots_page(ctx: WebContext) -> pn.Column:
    who: Visitor = visitor(ctx)
    if not who.logged_in or who.api is None or who.session is None:
        return login_needed(ctx, "/bots", who, title="Your bots")
    view = BotsView(ctx, who.api)
    pn.state.onload(view.load)
    every(view.load, 3000)
    on_close(who, view.close)
    welcome = pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width")
    if pn.state.session_args.get("welcome"):
        welcome.object = '<p class="empty">Welcome! Your account is on the free plan.</p>'
    body = pn.Column(
        "## Your bots",
        welcome,
        view.usage,
        view.message,
        view.rows,
        pn.pane.HTML('<p><a href="/bots/new">+ New bot</a></p>', stylesheets=[CSS]),
        sizing_mode="stretch_width",
    )
    return frame(ctx, "/bots", who, body, title="Your bots")
