"""Step 6's notification choice: channels offered by the host, events picked, shown on the review."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from contracts.profile import BotProfile
from ui.wizard import DeployAction, DeployResult, Wizard, WizardHost
from ui.wizard_steps import notify_choices, notify_summary

CHANNEL = str(uuid.uuid4())
GONE = str(uuid.uuid4())


def _host(deployed: list[BotProfile]) -> WizardHost:
    async def channels() -> dict[str, str]:
        return notify_choices([{"id": CHANNEL, "label": "Ops", "kind": "webhook", "target": "hooks.example.com"}])

    async def deploy(profile: BotProfile, _extras: Mapping[str, Any], _key: str) -> DeployResult:
        deployed.append(profile)
        return '<p class="wiz-created">Created</p>'

    return WizardHost(deploy_actions=(DeployAction("Create", "wiz-create", None, deploy),), notify_channels=channels)


async def test_the_channels_are_offered_at_step_6_and_the_choice_reaches_the_profile() -> None:
    deployed: list[BotProfile] = []
    wizard = Wizard(_host(deployed))
    await wizard.go_to(6)
    assert wizard.w["notify_channels"].options == {"Ops (webhook: hooks.example.com)": CHANNEL}
    wizard.w["notify_channels"].value = [CHANNEL]
    wizard.w["notify_events"].value = ["halt", "daily_summary"]
    await wizard.go_to(7)
    assert "trading halted, daily summary on 1 channel" in str(wizard.review.object)
    wizard.confirm.value = True
    await wizard.run(wizard.host.deploy_actions[0], wizard.deploy[0])
    (profile,) = deployed
    assert [str(c) for c in profile.schedule.notify.channels] == [CHANNEL]
    assert profile.schedule.notify.events == ["halt", "daily_summary"]


async def test_by_default_a_bot_notifies_nobody() -> None:
    deployed: list[BotProfile] = []
    wizard = Wizard(_host(deployed))
    await wizard.go_to(7)
    assert "<td>Notifications</td><td>none</td>" in str(wizard.review.object)
    wizard.confirm.value = True
    await wizard.run(wizard.host.deploy_actions[0], wizard.deploy[0])
    assert deployed[0].schedule.notify.channels == [] and deployed[0].schedule.notify.events == []


async def test_a_channel_picked_before_it_went_away_is_dropped_when_step_6_is_shown_again() -> None:
    wizard = Wizard(_host([]))
    await wizard.go_to(6)
    wizard.w["notify_channels"].options = {"old": GONE, "Ops": CHANNEL}
    wizard.w["notify_channels"].value = [GONE, CHANNEL]
    await wizard.go_to(5)
    await wizard.go_to(6)
    assert wizard.w["notify_channels"].value == [CHANNEL]


def test_the_summary_says_none_unless_a_channel_and_an_event_are_chosen() -> None:
    assert notify_summary([], 2) == "none"
    assert notify_summary(["halt"], 0) == "none"
    assert notify_summary(["regime_change", "bot_failed"], 2) == "regime changes, bot failed on 2 channels"
