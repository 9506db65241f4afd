"""The agent's New bot page: the shared wizard (:mod:`ui.wizard`) with the agent's hooks.

* Runs on: 'local' (this agent) first, 'hosted' (the cloud, paid plans; needs the Cloud login).
* Step 2 offers the built-in paper simulator, the local ``config/instances/.env`` credentials
  (the profile says ``paper``: a local bot's keys stay in its instance folder) and, when logged
  in, the cloud account's connections; the local API key and secret inputs sit under it.
* Each step is checked by the cloud's ``POST /api/v1/bots/validate?step=N`` when logged in; when
  logged out or offline the same contracts model decides here.
* Deploy locally writes the instance (yaml + 0600 ``.env``) under a bot id derived from the
  session's idempotency key, so a second click finds the bot already there; Deploy hosted sends
  ``POST /api/v1/bots`` with the same key.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import panel as pn

from agent.broker_env import local_broker_problems
from agent.cloud import CloudClient, CloudRejected, CloudUnreachable
from agent.dashboard.common import page
from agent.dashboard.context import AgentContext
from agent.instances import write_instance
from agent.notify import NotifyConfigError, channel_list, config_path, load_config
from contracts.profile import BotProfile
from trader.instance import InstanceError, read_env_file
from ui.wizard import DeployAction, DeployResult, Wizard, WizardHost
from ui.wizard_steps import BUILT_IN, connection_choices, notify_choices
from ui.wizard_words import LABELS, hosted_refusal

LOCAL_ENV = "local: credentials from config/instances/.env"
LOCAL_ENV_VALUE = "local-env"  # the picker's value; the profile says 'paper' (ui.wizard_steps.profile_connection)
_BOT_IDS = uuid.UUID("5b0f4a51-7d1c-4f3e-9a51-3c2b8d6f0e11")  # namespace: idempotency key -> local bot id
T = TypeVar("T")


def local_bot_id(idempotency_key: str) -> str:
    """The id a wizard session's local bot gets: the same for every click of that session."""
    return str(uuid.uuid5(_BOT_IDS, idempotency_key))


class AgentWizardHost:
    """The agent's side of the wizard: its files, its supervisor and its cloud login."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.api_key = pn.widgets.PasswordInput(name="Broker API key (local bots: kept in the local .env)")
        self.api_secret = pn.widgets.PasswordInput(name="Broker API secret")

    def host(self) -> WizardHost:
        return WizardHost(
            deploy_actions=(
                DeployAction("Deploy locally", "wiz-deploy-local", "local", self.deploy_local),
                DeployAction("Deploy hosted", "wiz-deploy-hosted", "hosted", self.deploy_hosted),
            ),
            connection_options=self.connection_options,
            notify_channels=self.notify_channels,
            validate=self.validate,
            hosted_check=self.hosted_check,
            surfaces=("local", "hosted"),
            extra_step2={"api_key": self.api_key, "api_secret": self.api_secret},
        )

    async def _cloud(self, call: Callable[[CloudClient], Awaitable[T]]) -> T | None:
        """``call`` with a client of the logged-in account; None when logged out."""
        login = self.ctx.sync.store.load()
        if login is None:
            return None
        client, http = self.ctx.sync.client(login)
        try:
            return await call(client)
        finally:
            await http.aclose()

    async def connection_options(self) -> dict[str, str]:
        options = {BUILT_IN: "paper", LOCAL_ENV: LOCAL_ENV_VALUE}
        try:
            connections = await self._cloud(lambda c: c.connections())
        except (CloudRejected, CloudUnreachable):
            connections = None  # the cloud's accounts are offered when it answers
        return {**options, **connection_choices(connections or [])}

    async def notify_channels(self) -> dict[str, str]:
        """This computer's channels (notify.yaml: for local bots), then the cloud's (for hosted bots)."""
        try:
            local = channel_list(load_config(config_path(self.ctx.home)))
        except NotifyConfigError:
            local = []  # the agent's log says what is wrong with the file
        try:
            cloud = await self._cloud(lambda c: c.notification_channels()) or []
        except (CloudRejected, CloudUnreachable):
            cloud = []
        mine = {f"{label} · this computer": value for label, value in notify_choices(local).items()}
        return {**mine, **{f"{label} · cloud": value for label, value in notify_choices(cloud).items()}}

    async def validate(self, step: int, section: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            return await self._cloud(lambda c: c.validate_step(step, section))
        except CloudRejected as exc:
            return [{"field": "", "msg": f"the cloud refused the check: {exc.detail}"}]
        except CloudUnreachable:
            return None  # offline: the local check is the same contracts model

    async def hosted_check(self) -> list[str]:
        try:
            billing = await self._cloud(lambda c: c.billing())
        except (CloudRejected, CloudUnreachable):
            return []  # Deploy hosted will hear the cloud's own answer
        if billing is None:
            return [
                f"{LABELS['surface']}: hosted bots run on our cloud (pro and team plans): log in on the "
                "Cloud page first, or choose 'local' to run this bot on this computer."
            ]
        return hosted_refusal(billing)

    async def deploy_local(self, profile: BotProfile, extras: Mapping[str, Any], key: str) -> DeployResult:
        home = self.ctx.home
        bot_id = local_bot_id(key)
        name = html.escape(profile.basics.name)
        links = f'<a href="./bots">see it on Bots</a> or <a href="./live?bot={bot_id}">watch it live</a>'
        if home.config_path(bot_id).exists():  # a repeated click of this session: the bot is there
            return f'<p class="wiz-created" data-bot="{bot_id}">Created <b>{name}</b>: {links}.</p>'
        env = {
            env_name: str(extras[key_name])
            for key_name, env_name in (("api_key", "BROKER_API_KEY"), ("api_secret", "BROKER_API_SECRET"))
            if extras.get(key_name)
        }
        try:
            shared = read_env_file(home.instances_dir / ".env")
        except InstanceError as exc:
            return [f"{LABELS['connection']}: {exc}"]
        problems = local_broker_problems(profile, {**shared, **env})
        if problems:
            return problems
        write_instance(home, profile, bot_id=bot_id, env=env)
        self.ctx.supervisor.reconcile()
        return f'<p class="wiz-created" data-bot="{bot_id}">Created <b>{name}</b>: {links}.</p>'

    async def deploy_hosted(self, profile: BotProfile, _extras: Mapping[str, Any], key: str) -> DeployResult:
        body = profile.model_dump(mode="json", exclude_none=True)
        try:
            bot_id = await self._cloud(lambda c: c.create_bot(body, idempotency_key=key))
        except CloudRejected as exc:
            return [f"the cloud refused the bot: {exc.detail}"]
        except CloudUnreachable as exc:
            # the create may have landed before the answer was lost: the same key makes a retry create it once
            return [f"the cloud did not answer ({exc}): press Deploy hosted again shortly"]
        if bot_id is None:
            return ["log in on the Cloud page to deploy hosted bots"]
        return (
            f'<p class="wiz-created" data-bot="{bot_id}">Submitted <b>{html.escape(profile.basics.name)}</b> '
            f'to the cloud as {bot_id}: follow it on the <a href="./cloud">Cloud</a> page.</p>'
        )


def wizard_page(ctx: AgentContext) -> pn.Column:
    wizard = Wizard(AgentWizardHost(ctx).host())
    return page(ctx, "wizard", pn.Column("## New bot", wizard.view, sizing_mode="stretch_width"))
