"""``/bots/new``: the six-step wizard (:mod:`ui.wizard`, the same one as the agent's), hosted by the
web app: steps are checked by the API as the user goes, step 2 offers the account's broker
connections, and "Create bot" asks the API for the bot (hosted or local, as step 1 and the plan
allow) with the wizard session's idempotency key, so a double click creates one bot.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import panel as pn

from contracts.profile import BotProfile
from ui.wizard import DeployAction, DeployResult, Wizard, WizardHost
from ui.wizard_steps import BUILT_IN, connection_choices, notify_choices
from ui.wizard_words import hosted_refusal
from web.api import ApiRejected, ApiUnreachable, UserApi
from web.chrome import Visitor, error_words, frame, login_needed, visitor
from web.context import WebContext


class WebWizardHost:
    """The wizard's hooks, answered by the API as the visitor."""

    def __init__(self, api: UserApi) -> None:
        self.api = api

    def host(self) -> WizardHost:
        return WizardHost(
            deploy_actions=(DeployAction("Create bot", "wiz-create", None, self.create),),
            connection_options=self.connection_options,
            notify_channels=self.notify_channels,
            validate=self.validate,
            hosted_check=self.hosted_check,
            surfaces=("hosted", "local"),
        )

    async def connection_options(self) -> dict[str, str]:
        try:
            return connection_choices(await self.api.connections())
        except (ApiRejected, ApiUnreachable):
            return {BUILT_IN: "paper"}

    async def notify_channels(self) -> dict[str, str]:
        try:
            return notify_choices(await self.api.notification_channels())
        except (ApiRejected, ApiUnreachable):
            return {}  # the bot is made without notifications; they can be set up later

    async def validate(self, step: int, section: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            return await self.api.validate_step(step, section)
        except ApiUnreachable:
            return None  # the same contracts model checks the step here; create checks it again

    async def hosted_check(self) -> list[str]:
        try:
            return hosted_refusal(await self.api.billing())
        except (ApiRejected, ApiUnreachable):
            return []  # create refuses with the plan's words if the plan does not allow it

    async def create(self, profile: BotProfile, _extras: Mapping[str, Any], idempotency_key: str) -> DeployResult:
        try:
            accepted = await self.api.create_bot(
                profile.model_dump(mode="json", exclude_none=True), idempotency_key=idempotency_key
            )
        except ApiRejected as exc:
            fields = [f"{e.get('field', 'bot')}: {e.get('msg', '')}" for e in exc.errors]
            return fields or [f"The bot was not created: {exc.detail}"]
        except ApiUnreachable as exc:
            # the create may have landed before the answer was lost: the same key makes a retry create it once
            return [f"{error_words(exc)} Press Create bot again in a moment: it will not create a second bot."]
        bot_id = html.escape(str(accepted["bot_id"]))
        name = html.escape(profile.basics.name)
        where = "on our cloud" if profile.basics.surface == "hosted" else "for your local agent"
        return (
            f'<p class="wiz-created" data-bot="{bot_id}">Created <b>{name}</b> {where}: '
            f'<a href="/bots/{bot_id}">watch it</a> or see <a href="/bots">all your bots</a>.</p>'
        )


def new_bot_page(ctx: WebContext) -> pn.Column:
    who: Visitor = visitor(ctx)
    if not who.logged_in or who.api is None:
        return login_needed(ctx, "/bots/new", who, title="New bot")
    wizard = Wizard(WebWizardHost(who.api).host())
    body = pn.Column("## New bot", wizard.view, sizing_mode="stretch_width")
    return frame(ctx, "/bots/new", who, body, title="New bot")
