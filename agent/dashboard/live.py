"""HMM live detection for one bot: the shared regime charts (:class:`ui.charts.RegimeCharts`) fed
from the agent's bus subscription, pushed as the bot ticks, with a one-line summary above them."""

from __future__ import annotations

import html

import panel as pn

from agent.dashboard.common import page, push_on_change, query_arg
from agent.dashboard.context import AgentContext
from agent.instances import Instance, list_instances
from contracts.profile import BotProfile
from ui.charts import RegimeCharts, now_line
from ui.portfolio_record import chart_symbol
from ui.regimes import named_exposures

REPLAYS = {
    "sp500": "a replay of the bundled S&P 500 daily index (1999–2018)",
    "nasdaq": "a replay of the bundled NASDAQ daily index (1999–2018)",
    "bundled": "a replay of the bundled S&P 500 (SPY) and NASDAQ (QQQ) daily indexes (1999–2018)",
}


OUTSIDE = "Bot run outside this agent"
EMPTY = (
    "**No bots yet.** Create one with the [New bot wizard](./wizard): choose a symbol and its data (a bundled "
    "replay needs no broker), deploy it locally, and its price, regimes, equity and drawdown show here as it trades."
)
GONE = "The bot in this link is not one of this agent's bots (deleted, or created elsewhere): showing your bots."


def bot_options(instances: list[Instance], outside: str | None = None) -> dict[str, str]:
    """Each local bot once, by name; two bots of one name are told apart by their symbols, then by a
    counter, never by an id. ``outside``: a bot named in the URL that has no local profile but is
    publishing on the bus now (run by hand); a deleted bot's id is not listed."""
    labels = [i.profile.basics.name for i in instances]
    labels = [
        f"{label} · {', '.join(i.profile.market.symbols)}" if labels.count(label) > 1 else label
        for label, i in zip(labels, instances, strict=True)
    ]
    options: dict[str, str] = {}
    for label, instance in zip(labels, instances, strict=True):
        copies = sum(1 for earlier in labels[: len(options)] if earlier == label)
        options[label if copies == 0 else f"{label} ({copies + 1})"] = instance.bot_id
    if outside is not None and outside not in options.values():
        options[OUTSIDE] = outside
    return options


def feed_of(instance: Instance) -> str:
    """``live`` for bars streamed from the broker, ``replay`` for any recorded series."""
    return "live" if instance.profile.market.data_source == "broker" else "replay"


def data_note(instance: Instance | None) -> str:
    """Where the bars come from, badge first, so a replay is never mistaken for the live market."""
    if instance is None:
        return ""
    market = instance.profile.market
    if market.data_source in REPLAYS:
        source = REPLAYS[market.data_source]
    elif market.data_source == "file":
        files = "the files " if len(market.symbols) > 1 else "the file "
        source = f"a replay of {files}{market.data_file}"
    else:
        source = "live bars from the broker"
    feed = feed_of(instance)
    badge = (
        f'<span class="live-feed" data-feed="{feed}" style="font-weight:700;border:1px solid currentColor;'
        f'padding:0 5px;border-radius:3px;color:{"#1f4e79" if feed == "replay" else "#1b7a36"}">'
        f"{'REPLAY' if feed == 'replay' else 'LIVE MARKET FEED'}</span> "
    )
    symbols = ", ".join(market.symbols)
    return f'{badge}<span class="live-source">{html.escape(symbols)}: prices are {html.escape(source)}.</span>'


def live_page(ctx: AgentContext) -> pn.Column:
    by_id: dict[str, Instance] = {}
    chosen = query_arg("bot")

    def current_options() -> dict[str, str]:
        """The bots to choose from now: bots are created and deleted while the page is open."""
        instances, _ = list_instances(ctx.home)
        by_id.clear()
        by_id.update({i.bot_id: i for i in instances})
        running_outside = chosen is not None and chosen not in by_id and ctx.live.health(chosen) == "healthy"
        return bot_options(instances, chosen if running_outside else None)

    options = current_options()
    initial = chosen if chosen in options.values() else next(iter(options.values()), None)
    select = pn.widgets.Select(
        name="Bot", options=options, value=initial, sizing_mode="stretch_width", max_width=420, css_classes=["live-bot"]
    )
    empty = pn.pane.Markdown(EMPTY, css_classes=["live-empty"], sizing_mode="stretch_width")
    gone = pn.pane.Alert(GONE, alert_type="warning", css_classes=["live-gone"], visible=False)
    gone.visible = bool(chosen) and chosen not in options.values() and bool(options)
    now = pn.pane.HTML("", css_classes=["live-now"], sizing_mode="stretch_width")
    source = pn.pane.HTML("", css_classes=["live-source-note"], sizing_mode="stretch_width")
    holder = pn.Column(sizing_mode="stretch_width")
    # a portfolio's chart draws one symbol under its model's regime: the reference series at first
    chart_pick = pn.widgets.Select(name="Price chart of", visible=False, width=200, css_classes=["live-chart-symbol"])
    state: dict[str, RegimeCharts | None] = {"charts": None}
    fed = {"tick": 0, "audit": 0}  # the last seq handed to the charts: each push hands over only what is new
    syncing = {"pick": False}
    order: list[str] = []  # the bot's symbols: a portfolio's rows follow its weights, not the record's sorted keys
    bot_view = pn.Column(select, source, now, chart_pick, holder, sizing_mode="stretch_width")

    def pick_symbol(profile: BotProfile | None) -> str:
        if profile is None:
            chart_pick.visible = False
            return "price"
        symbols = list(profile.market.symbols)
        if chart_pick.options != symbols or chart_pick.value not in symbols:
            syncing["pick"] = True  # another bot's symbols: not a pick of the trader's
            try:
                chart_pick.options = symbols
                chart_pick.value = chart_symbol(symbols, profile.model.scope, profile.model.reference_symbol)
            finally:
                syncing["pick"] = False
        chart_pick.visible = len(symbols) > 1
        return str(chart_pick.value)

    def build() -> None:
        instance = by_id.get(select.value) if select.value else None
        profile = instance.profile if instance else None
        empty.visible = bot_view.visible = False
        if select.value is None:  # no bots: say how to make one, and nothing else
            empty.visible, state["charts"], holder.objects = True, None, []
            return
        bot_view.visible = True
        charts = RegimeCharts(
            named_exposures(profile.strategy.exposure_per_regime, profile.model.n_states) if profile else None,
            pick_symbol(profile),
            feed=feed_of(instance) if instance else None,
        )
        charts.portfolio = profile is not None and len(profile.market.symbols) > 1
        order[:] = profile.market.symbols if profile else []
        state["charts"] = charts
        fed.update(tick=0, audit=0)
        holder.objects = [charts.panel]
        source.object = data_note(instance)

    def refresh() -> None:
        charts = state["charts"]
        bot_id = select.value
        live = ctx.live.bots.get(bot_id) if bot_id else None
        if charts is None or live is None:
            now.object = now_line(None, None, None) if bot_id else ""
            return
        ticks = [t for t in live.ticks if t.seq > fed["tick"]]
        records = [r for r in live.audit if r.seq > fed["audit"]]
        if ticks:
            charts.add_ticks(ticks)
            fed["tick"] = ticks[-1].seq
        if records:
            charts.add_audit(records)
            fed["audit"] = records[-1].seq
        now.object = now_line(
            live.ticks[-1] if live.ticks else None, live.audit[-1] if live.audit else None, charts.exposures, order
        )

    def on_select(_event: object) -> None:
        build()
        refresh()

    def on_chart_pick(_event: object) -> None:
        if not syncing["pick"]:
            on_select(_event)

    def follow_bots() -> None:
        """List bots created since the page opened; drop deleted ones (the chosen one: show the next)."""
        fresh = current_options()
        if fresh == select.options:
            return
        keep = select.value if select.value in fresh.values() else next(iter(fresh.values()), None)
        select.param.update(options=fresh, value=keep)  # a new value rebuilds through on_select

    select.param.watch(on_select, "value")
    chart_pick.param.watch(on_chart_pick, "value")
    build()
    refresh()
    pn.state.add_periodic_callback(follow_bots, period=2000)
    push_on_change(ctx, lambda bot_id, kind: bot_id == select.value and kind in ("tick", "audit"), refresh)
    body = pn.Column("## HMM live detection", empty, gone, bot_view, sizing_mode="stretch_width")
    return page(ctx, "live", body)
