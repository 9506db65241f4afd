"""``/bots/<id>``: one bot as its machine sees it — the HMM view, the audit trail, the machine's log,
why it is in its state, and its profile. History comes from the API; what happens next comes
from the bus, for this bot only and only after the API confirmed it is the visitor's.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import panel as pn

from contracts.events import AuditRecord, BotLogLine, Tick
from ui.audit import AuditView
from ui.charts import RegimeCharts, now_line, risk_of
from ui.portfolio_record import chart_symbol
from ui.rearm import RearmControl, RearmFailed
from ui.regimes import named_exposures
from web.api import ApiError, ApiRejected, UserApi
from web.chrome import (
    CSS,
    Visitor,
    error_words,
    every,
    frame,
    login_needed,
    not_found,
    not_found_body,
    on_close,
    visitor,
)
from web.context import WebContext
from web.pages.bots import risk_html

HISTORY_PAGES = 20  # 500 records a page: the newest 10,000 decisions are drawn
LOG_LINES = 300


def audit_records(bot_id: str, entries: list[dict[str, Any]]) -> list[AuditRecord]:
    return [
        AuditRecord.model_validate({**{k: v for k, v in e.items() if k != "recorded_at"}, "bot_id": bot_id})
        for e in entries
    ]


def header_html(bot: dict[str, Any]) -> str:
    mode = (
        '<span class="badge live">LIVE · real money</span>'
        if bot["mode"] == "live"
        else '<span class="badge">paper</span>'
    )
    market = bot["profile"]["market"]
    reason = bot.get("status_reason")
    why = f' <span class="status-reason">· {html.escape(str(reason))}</span>' if reason else ""
    return (
        # the page's one h1 (axe: page-has-heading-one), sized as the h2 it was
        f'<h1 class="bot-name" style="font-size:1.5em">{html.escape(bot["name"])} {mode}</h1>'
        f'<p class="bot-state" data-status="{html.escape(str(bot["status"]))}">'
        f"Status <b>{html.escape(str(bot['status']))}</b>"
        f"{why} · {html.escape(', '.join(market['symbols']))} · {html.escape(market['bar_interval'])} bars · "
        f"{html.escape(bot['surface'])}</p>{risk_html(bot)}"
    )


def profile_html(profile: dict[str, Any]) -> str:
    rows = []
    for section, values in profile.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append(
                f"<tr><td>{html.escape(section)}</td><td>{html.escape(key.replace('_', ' '))}</td>"
                f"<td>{html.escape(shown)}</td></tr>"
            )
    return f'<table class="web profile"><tbody>{"".join(rows)}</tbody></table>'


def log_html(lines: list[BotLogLine]) -> str:
    text = "\n".join(f"{line.occurred_at:%H:%M:%S} {line.line}" for line in lines[-LOG_LINES:])
    if not text:
        text = "No log lines yet: they appear here as the bot's machine writes them."
    return (
        '<pre class="bot-log" style="max-height:320px;overflow:auto;background:#111;color:#eee;padding:8px;'
        f'white-space:pre-wrap;font-size:12px">{html.escape(text)}</pre>'
    )


class BotView:
    def __init__(self, ctx: WebContext, api: UserApi, bot: dict[str, Any]) -> None:
        self.ctx, self.api, self.bot = ctx, api, bot
        self.bot_id = str(bot["id"])
        profile = bot["profile"]
        self.header = pn.pane.HTML(header_html(bot), stylesheets=[CSS], sizing_mode="stretch_width")
        self.connection = pn.pane.HTML("", stylesheets=[CSS], css_classes=["live-state"], sizing_mode="stretch_width")
        self.exposures = named_exposures(profile["strategy"]["exposure_per_regime"], profile["model"]["n_states"])
        self.symbols: list[str] = list(profile["market"]["symbols"])  # a portfolio's rows follow its weights
        self.last_tick: Tick | None = None
        self.last_record: AuditRecord | None = None
        self.now = pn.pane.HTML(
            now_line(None, None, self.exposures),
            stylesheets=[CSS],
            css_classes=["live-now"],
            sizing_mode="stretch_width",
        )
        model = profile["model"]
        self.charts = RegimeCharts(
            self.exposures,
            chart_symbol(profile["market"]["symbols"], model.get("scope"), model.get("reference_symbol")),
        )
        self.audit = AuditView(bot=self.bot_id)
        self.audit.describe(self.bot_id, name=bot["name"], exposures=self.exposures, symbols=self.symbols)
        self.log_lines: list[BotLogLine] = list(ctx.hub.log_tail(self.bot_id))
        self.log = pn.pane.HTML(log_html(self.log_lines), sizing_mode="stretch_width", css_classes=["bot-log-pane"])
        self.last_seq = 0
        self._log_pending = False
        self._was_connected = True
        self._doc = pn.state.curdoc
        self._held: list[tuple[str, Any]] | None = None  # live messages held while history loads
        # a local bot is re-armed from its agent's dashboard: the cloud's bus does not reach it
        self.rearm = RearmControl(bot["name"], self._rearm, bot_id=self.bot_id) if bot["surface"] == "hosted" else None

    async def _rearm(self) -> str:
        try:
            await self.api.rearm(self.bot_id, idempotency_key=str(uuid.uuid4()))
        except ApiError as exc:
            raise RearmFailed(error_words(exc)) from exc
        return f"Re-arm requested: {self.bot['name']} trades again from its next bar."

    async def catch_up(self) -> None:
        """Load what the API has past ``last_seq``; live messages arriving meanwhile are applied after it."""
        self._held = []
        try:
            await self.load_history()
        finally:
            await self._in_document(self._release_held)

    def _release_held(self) -> None:
        held, self._held = self._held or [], None
        for kind, message in held:
            self._apply(kind, message)

    async def load_history(self) -> None:
        after = self.last_seq
        for _ in range(HISTORY_PAGES):
            try:
                page = await self.api.audit(self.bot_id, after=after)
            except ApiError as exc:
                self.connection.object = f'<p class="loss">{error_words(exc)}</p>'
                return
            records = audit_records(self.bot_id, page["records"])
            await self._in_document(partial(self.add_audit, records))
            if page.get("next_after") is None:
                break
            after = int(page["next_after"])

    async def _in_document(self, change: Callable[[], None]) -> None:
        """Run ``change`` holding the document's lock: after an ``await`` the lock is gone, and
        Bokeh data sources (the charts stream into them) may only change under it."""
        if self._doc is None:
            change()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def run() -> None:
            try:
                change()
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
                done.set_exception(exc)
            else:
                done.set_result(None)

        self._doc.add_next_tick_callback(run)
        await done

    def add_audit(self, records: list[AuditRecord]) -> None:
        fresh = [r for r in records if r.seq > self.last_seq]
        if not fresh:
            return
        self.charts.add_audit(fresh)
        self.audit.add(self.bot_id, fresh)
        self.last_seq = fresh[-1].seq
        self.last_record = fresh[-1]
        if self.rearm is not None:
            self.rearm.show_for(risk_of(self.last_record)[0])
        self.now.object = now_line(self.last_tick, self.last_record, self.exposures, self.symbols)

    def on_message(self, kind: str, message: Any) -> None:
        """From the hub (any thread's view of the loop): hand over to this page's document."""
        if self._doc is not None:
            self._doc.add_next_tick_callback(lambda: self._apply(kind, message))

    def _apply(self, kind: str, message: Any) -> None:
        if self._held is not None and kind in ("tick", "audit"):
            self._held.append((kind, message))
        elif kind == "tick" and isinstance(message, Tick):
            self.charts.add_ticks([message])
            self.last_tick = message
            self.now.object = now_line(message, self.last_record, self.exposures, self.symbols)
        elif kind == "audit" and isinstance(message, AuditRecord):
            self.add_audit([message])
        elif kind == "log" and isinstance(message, BotLogLine):
            self.log_lines = [*self.log_lines[-LOG_LINES:], message]
            if not self._log_pending and self._doc is not None:
                self._log_pending = True
                self._doc.add_timeout_callback(self._draw_log, 200)  # a burst of lines redraws once
        elif kind == "event" and self._doc is not None:
            self._doc.add_next_tick_callback(cast(Any, self.refresh_bot))  # Bokeh awaits coroutine callbacks

    def _draw_log(self) -> None:
        self._log_pending = False
        self.log.object = log_html(self.log_lines)

    async def refresh_bot(self) -> None:
        try:
            self.bot = await self.api.bot(self.bot_id)
        except ApiError:
            return
        self.header.object = header_html(self.bot)

    async def watch_connection(self) -> None:
        """Say "reconnecting" while the bus is away; on its return, fetch what was missed from the API."""
        up = self.ctx.hub.connected
        if not up:
            self.connection.object = '<p class="loss reconnecting">Live updates are reconnecting…</p>'
        elif not self._was_connected:
            self.connection.object = '<p class="gain">Live updates resumed.</p>'
            await self.catch_up()
        self._was_connected = up


def bot_page(ctx: WebContext) -> pn.Column:
    who: Visitor = visitor(ctx)
    raw_id = pn.state.route_params.get("bot_id", "") if pn.state.curdoc is not None else ""
    current = f"/bots/{raw_id}"
    if not who.logged_in or who.api is None:
        return login_needed(ctx, current, who, title="Bot")
    try:
        bot_id = str(uuid.UUID(raw_id))
    except ValueError:
        return not_found(ctx, current, who, "There is no bot at this address.")
    body = pn.Column(sizing_mode="stretch_width")
    page = frame(ctx, current, who, body, title="Bot")
    api = who.api
    shown: list[BotView] = []  # the view, once the API said the bot is the visitor's
    stops: list[Callable[[], None]] = []

    async def build() -> None:
        try:
            bot = await api.bot(bot_id)
        except ApiRejected as exc:
            if exc.status in (404, 422):
                body.objects = [not_found_body("There is no bot of yours at this address.")]
                return
            body.objects = [pn.pane.HTML(f'<p class="loss">{error_words(exc)}</p>', stylesheets=[CSS])]
            return
        except ApiError as exc:
            body.objects = [pn.pane.HTML(f'<p class="loss">{error_words(exc)}</p>', stylesheets=[CSS])]
            return
        view = BotView(ctx, api, bot)
        body.objects = [
            view.header,
            *([view.rearm.panel] if view.rearm is not None else []),
            view.connection,
            view.now,
            pn.Tabs(
                ("HMM live", view.charts.panel),
                ("Audit", view.audit.panel),
                ("Machine log", view.log),
                ("Profile", pn.pane.HTML(profile_html(bot["profile"]), stylesheets=[CSS], sizing_mode="stretch_width")),
                dynamic=False,
                sizing_mode="stretch_width",
            ),
        ]
        stops.append(ctx.hub.watch(bot_id, view.on_message))  # only now: the API said the bot is theirs
        shown.append(view)
        await view.catch_up()

    async def check_connection() -> None:
        if shown:
            await shown[0].watch_connection()

    def close() -> None:
        for stop in stops:
            stop()
        stops.clear()

    # registered while the page is built: after an ``await`` the page's session is no longer current
    pn.state.onload(build)
    every(check_connection, 1000)
    on_close(who, close)
    return page
