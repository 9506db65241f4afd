"""New bot wizard: the six profile steps, a review, then deploy locally (instance yaml + 0600
.env) or hosted (``POST /api/v1/bots``, paid tiers).

Each step is checked by the cloud's ``POST /api/v1/bots/validate?step=N`` when logged in (its
verdict, naming the field, is what create will hold the bot to; a hosted bot in step 1 is also
checked against the plan's limits) and by the same contracts model here, which alone decides
when logged out or offline.

Broker data: step 2 offers the cloud account's connections when logged in, or the local
``config/instances/.env`` credentials for a bot on this agent (checked at Deploy locally:
``BROKER_KIND`` and its keys must be there). Live mode asks for the typed confirmation in
step 1, next to the choice it confirms."""

from __future__ import annotations

import html
import uuid
from typing import Any

import panel as pn
from pydantic import ValidationError

from agent.broker_env import local_broker_problems
from agent.cloud import CloudRejected, CloudUnreachable
from agent.dashboard.common import page
from agent.dashboard.context import AgentContext
from agent.instances import write_instance
from contracts.profile import LIVE_CONFIRMATION, WIZARD_STEPS, BotProfile
from trader.instance import InstanceError, read_env_file

STEP_TITLES = ("Basics", "Broker", "Market", "Model", "Strategy & risk", "Schedule", "Review")
BUILT_IN = "paper: built-in simulator (no market data)"
LOCAL_ENV = "local: credentials from config/instances/.env"
LOCAL_ENV_VALUE = "local-env"  # the picker's value; the profile says 'paper' (see connection_options)


def connection_options(connections: list[dict[str, Any]]) -> dict[str, str]:
    """Step 2's picker: label -> value. The local ``.env`` choice writes ``paper`` into the profile's
    ``broker.connection``: a local bot's broker credentials come from its instance folder, not the cloud."""
    options = {BUILT_IN: "paper", LOCAL_ENV: LOCAL_ENV_VALUE}
    for c in connections:
        account = "paper" if c.get("paper") else "LIVE" if c.get("paper") is False else "reconnect: paper or live?"
        venue = f"{c['kind']} {c['exchange']}" if c.get("exchange") else c["kind"]
        options[f"{c['label']} ({venue}, {account}) · {str(c['id'])[:8]}"] = str(c["id"])
    return options


class FieldError(ValueError):
    pass


def _numbers(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise FieldError(f"{field}: write numbers separated by commas, e.g. 0, 0.5, 1") from None


def _optional(text: str, field: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise FieldError(f"{field}: a number, or empty for none") from None


def errors_text(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'step'}: {e['msg']}" for e in exc.errors()]


def hosted_refusal(billing: dict[str, Any]) -> list[str]:
    """Why the account's plan cannot take one more hosted bot (``GET /api/v1/billing``), if it cannot."""
    plan, limits, usage = billing["plan"], billing["limits"], billing["usage"]
    if not limits["hosted_allowed"]:
        return [
            f"basics.surface: your {plan} plan runs bots on your own machine only: hosted bots need the pro "
            "or team plan. Choose 'local' to run it on this agent, or upgrade your plan."
        ]
    if usage["hosted_bots"] >= limits["max_hosted_bots"]:
        return [
            f"basics.surface: your {plan} plan allows {limits['max_hosted_bots']} hosted bots and you have "
            f"{usage['hosted_bots']}: delete one, choose 'local', or upgrade."
        ]
    return []


def wizard_page(ctx: AgentContext) -> pn.Column:
    w: dict[str, Any] = {
        "name": pn.widgets.TextInput(name="Bot name", value="My first regime bot", css_classes=["wiz-name"]),
        "surface": pn.widgets.Select(
            name="Runs on", options=["local", "hosted"], value="local", css_classes=["wiz-surface"]
        ),
        "mode": pn.widgets.Select(name="Mode", options=["paper", "live"], value="paper", css_classes=["wiz-mode"]),
        "live_confirmation": pn.widgets.TextInput(
            name=f"Live trading uses real money. Type exactly: {LIVE_CONFIRMATION}",
            value="",
            placeholder=LIVE_CONFIRMATION,
            visible=False,
            css_classes=["wiz-live-confirm"],
        ),
        "connection_pick": pn.widgets.Select(
            name="Broker account", options=connection_options([]), value="paper", css_classes=["wiz-connection-pick"]
        ),
        "connection": pn.widgets.TextInput(name="Broker connection ('paper' or a connection id)", value="paper"),
        "api_key": pn.widgets.PasswordInput(name="Broker API key (local bots: stays in the local .env)", value=""),
        "api_secret": pn.widgets.PasswordInput(name="Broker API secret", value=""),
        "symbols": pn.widgets.TextInput(
            name="Symbols (comma-separated; stocks SPY, crypto from a broker BTC/USD or BTC/USDT)",
            value="SPY",
            placeholder="SPY, QQQ · BTC/USD (Alpaca) · BTC/USDT (exchange)",
            css_classes=["wiz-symbols"],
        ),
        "bar_interval": pn.widgets.Select(name="Bar", options=["1d", "4h", "1h", "15m", "5m", "1m"], value="1d"),
        "asset_class": pn.widgets.Select(name="Asset class", options=["stock", "crypto"], value="stock"),
        "data_source": pn.widgets.Select(
            name="Data (broker: live bars from the account in step 2)",
            options=["sp500", "nasdaq", "broker", "file"],
            value="sp500",
            css_classes=["wiz-data-source"],
        ),
        "data_file": pn.widgets.TextInput(name="Bar file (data 'file')", value=""),
        "n_states": pn.widgets.IntInput(name="Regimes", value=3, start=1, end=9, css_classes=["wiz-states"]),
        "features": pn.widgets.MultiChoice(
            name="Features",
            options=["log_return", "realized_vol", "hl_range", "volume_z"],
            value=["log_return", "realized_vol"],
        ),
        "training_window": pn.widgets.IntInput(name="Training window (bars)", value=504, css_classes=["wiz-window"]),
        "refit_every": pn.widgets.IntInput(name="Refit every (bars)", value=21),
        "min_persistence": pn.widgets.IntInput(name="Min persistence (bars)", value=3),
        "prob_threshold": pn.widgets.FloatInput(name="Probability threshold", value=0.6, step=0.05),
        "exposure": pn.widgets.TextInput(
            name="Exposure per regime (low to high)", value="0, 0.5, 1", css_classes=["wiz-exposure"]
        ),
        "max_position_pct": pn.widgets.FloatInput(name="Max position % of equity", value=100),
        "max_daily_loss_pct": pn.widgets.FloatInput(name="Max daily loss %", value=3, css_classes=["wiz-daily-loss"]),
        "max_drawdown_pct": pn.widgets.FloatInput(
            name="Max drawdown % (kill switch)", value=20, css_classes=["wiz-drawdown"]
        ),
        "stop_loss_pct": pn.widgets.TextInput(name="Stop loss % (empty: none)", value=""),
        "run": pn.widgets.Select(
            name="Run", options=["after_close", "every_bar"], value="after_close", css_classes=["wiz-run"]
        ),
        "timezone": pn.widgets.TextInput(name="Time zone", value="America/New_York"),
        "starting_cash": pn.widgets.FloatInput(name="Starting cash", value=100_000),
        "confirmed": pn.widgets.Checkbox(
            name="I reviewed these settings and accept the risks", value=False, css_classes=["wiz-confirm"]
        ),
    }
    steps_widgets = (
        ("name", "surface", "mode", "live_confirmation"),
        ("connection_pick", "connection", "api_key", "api_secret"),
        ("symbols", "bar_interval", "asset_class", "data_source", "data_file"),
        ("n_states", "features", "training_window", "refit_every", "min_persistence", "prob_threshold"),
        ("exposure", "max_position_pct", "max_daily_loss_pct", "max_drawdown_pct", "stop_loss_pct"),
        ("run", "timezone", "starting_cash", "confirmed"),
    )

    def section(step: int) -> dict[str, Any]:
        v = {k: x.value for k, x in w.items()}
        if step == 1:
            out: dict[str, Any] = {"name": v["name"], "surface": v["surface"], "mode": v["mode"]}
            if v["mode"] == "live":
                out["live_confirmation"] = v["live_confirmation"]
            return out
        if step == 2:
            return {"connection": v["connection"].strip()}
        if step == 3:
            out = {
                "symbols": [s for s in v["symbols"].split(",") if s.strip()],
                "bar_interval": v["bar_interval"],
                "asset_class": v["asset_class"],
                "data_source": v["data_source"],
            }
            if v["data_file"].strip():
                out["data_file"] = v["data_file"].strip()
            return out
        if step == 4:
            return {
                k: v[k]
                for k in ("n_states", "features", "training_window", "refit_every", "min_persistence", "prob_threshold")
            }
        if step == 5:
            out = {
                "exposure_per_regime": _numbers(v["exposure"], "exposure per regime"),
                "max_position_pct": v["max_position_pct"],
                "max_daily_loss_pct": v["max_daily_loss_pct"],
                "max_drawdown_pct": v["max_drawdown_pct"],
            }
            stop = _optional(v["stop_loss_pct"], "stop loss %")
            if stop is not None:
                out["stop_loss_pct"] = stop
            return out
        return {k: v[k] for k in ("run", "timezone", "starting_cash", "confirmed")}

    def profile_body() -> dict[str, Any]:
        keys = ("basics", "broker", "market", "model", "strategy", "schedule")
        return {key: section(n) for n, key in enumerate(keys, start=1)}

    session_key = uuid.uuid4().hex  # a second click on Deploy hosted creates the same bot, once
    current = {"step": 1}
    title = pn.pane.HTML("", css_classes=["wiz-title"])
    form = pn.Column(sizing_mode="stretch_width")
    messages = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["wiz-errors"])
    review = pn.pane.JSON({}, depth=2, visible=False)
    back = pn.widgets.Button(name="Back", width=90)
    nxt = pn.widgets.Button(name="Next", button_type="primary", width=90, css_classes=["wiz-next"])
    deploy_local = pn.widgets.Button(
        name="Deploy locally", button_type="success", visible=False, css_classes=["wiz-deploy-local"]
    )
    deploy_hosted = pn.widgets.Button(
        name="Deploy hosted", button_type="primary", visible=False, css_classes=["wiz-deploy-hosted"]
    )
    done = pn.pane.HTML("", css_classes=["wiz-done"])

    def on_mode(event: Any) -> None:
        w["live_confirmation"].visible = event.new == "live"
        if event.new != "live":
            w["live_confirmation"].value = ""  # asked again after any switch back to live

    def on_pick(event: Any) -> None:
        w["connection"].value = "paper" if event.new == LOCAL_ENV_VALUE else str(event.new)

    w["mode"].param.watch(on_mode, "value")
    w["connection_pick"].param.watch(on_pick, "value")

    async def load_connections() -> None:
        """Offer the cloud account's connections in step 2 (silently none when logged out or offline)."""
        login = ctx.sync.store.load()
        if login is None:
            return
        client, http = ctx.sync.client(login)
        try:
            w["connection_pick"].options = connection_options(await client.connections())
        except (CloudRejected, CloudUnreachable):
            return
        finally:
            await http.aclose()

    def render() -> None:
        step = current["step"]
        title.object = f'<h3 data-step="{step}">Step {step} of 7: {STEP_TITLES[step - 1]}</h3>'
        form.objects = [w[k] for k in steps_widgets[step - 1]] if step <= 6 else []
        review.visible = step == 7
        back.disabled = step == 1
        nxt.visible = step <= 6
        deploy_local.visible = deploy_hosted.visible = step == 7
        deploy_hosted.disabled = ctx.sync.store.load() is None

    def show_errors(lines: list[str]) -> None:
        messages.object = "**Fix these before going on:**\n\n" + "\n".join(f"- {html.escape(line)}" for line in lines)
        messages.visible = bool(lines)

    async def cloud_check(step: int, body: dict[str, Any]) -> list[str] | None:
        """The cloud's verdict on a step when logged in (it is what create will hold the bot to,
        and may be newer than this agent); ``None`` when there is no cloud to ask."""
        login = ctx.sync.store.load()
        if login is None:
            return None
        client, http = ctx.sync.client(login)
        try:
            errors = await client.validate_step(step, body)
            lines = [f"cloud: {e.get('field', 'step')}: {e.get('msg', '')}" for e in errors]
            if step == 1 and body.get("surface") == "hosted" and not lines:
                lines = hosted_refusal(await client.billing())
        except CloudRejected as exc:
            return [f"cloud: {exc.detail}"]
        except CloudUnreachable:
            return None  # offline: the local check is the same contracts model
        finally:
            await http.aclose()
        return lines

    def local_check(step: int, body: dict[str, Any]) -> list[str]:
        try:
            WIZARD_STEPS[step].model_validate(body)
        except ValidationError as exc:
            return errors_text(exc)
        return []

    async def on_next(_event: object) -> None:
        step = current["step"]
        try:
            body = section(step)
        except FieldError as exc:
            show_errors([str(exc)])
            return
        errors = await cloud_check(step, body) or local_check(step, body)
        if errors:
            show_errors(errors)
            return
        if step == 6:
            try:
                profile = BotProfile.model_validate(profile_body())
            except (ValidationError, FieldError) as exc:
                show_errors(errors_text(exc) if isinstance(exc, ValidationError) else [str(exc)])
                return
            review.object = profile.model_dump(mode="json")
        show_errors([])
        current["step"] = step + 1
        render()
        if current["step"] == 2:
            await load_connections()

    def on_back(_event: object) -> None:
        current["step"] = max(1, current["step"] - 1)
        show_errors([])
        render()

    def on_deploy_local(_event: object) -> None:
        profile = BotProfile.model_validate(profile_body())
        if profile.basics.surface != "local":
            show_errors(["basics.surface: choose 'local' in step 1 to run this bot on this agent"])
            return
        env = {
            name: w[k].value
            for k, name in (("api_key", "BROKER_API_KEY"), ("api_secret", "BROKER_API_SECRET"))
            if w[k].value
        }
        try:
            shared = read_env_file(ctx.home.instances_dir / ".env")
        except InstanceError as exc:
            show_errors([f"broker: {exc}"])
            return
        problems = local_broker_problems(profile, {**shared, **env})
        if problems:
            show_errors(problems)
            return
        instance = write_instance(ctx.home, profile, env=env)
        ctx.supervisor.reconcile()
        done.object = (
            f'<p class="wiz-created" data-bot="{instance.bot_id}">Created <b>{html.escape(profile.basics.name)}</b>: '
            f'<a href="./bots">see it on Bots</a> or <a href="./live?bot={instance.bot_id}">watch it live</a>.</p>'
        )

    async def on_deploy_hosted(_event: object) -> None:
        login = ctx.sync.store.load()
        if login is None:
            show_errors(["log in on the Cloud page to deploy hosted bots"])
            return
        profile = BotProfile.model_validate(profile_body())
        if profile.basics.surface != "hosted":
            show_errors(["basics.surface: choose 'hosted' in step 1 to run this bot in the cloud"])
            return
        client, http = ctx.sync.client(login)
        try:
            bot_id = await client.create_bot(
                profile.model_dump(mode="json", exclude_none=True), idempotency_key=f"wizard:{session_key}"
            )
        except CloudRejected as exc:
            show_errors([f"the cloud refused the bot: {exc.detail}"])
            return
        except CloudUnreachable as exc:
            # the create may have landed before the answer was lost: the same key makes a retry create it once
            show_errors([f"the cloud did not answer ({exc}): press Deploy hosted again shortly"])
            return
        finally:
            await http.aclose()
        show_errors([])
        done.object = (
            f'<p class="wiz-created" data-bot="{bot_id}">Submitted <b>{html.escape(profile.basics.name)}</b> '
            f'to the cloud as {bot_id}: follow it on the <a href="./cloud">Cloud</a> page.</p>'
        )

    back.on_click(on_back)
    nxt.on_click(on_next)
    deploy_local.on_click(on_deploy_local)
    deploy_hosted.on_click(on_deploy_hosted)
    render()
    body = pn.Column(
        "## New bot",
        title,
        messages,
        form,
        review,
        pn.Row(back, nxt, deploy_local, deploy_hosted),
        done,
        sizing_mode="stretch_width",
    )
    return page(ctx, "wizard", body)
