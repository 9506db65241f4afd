"""The wizard session with a fake host, no browser: the cloud's verdict comes first, the walk
stops at the step at fault, the deploy buttons match the bot's surface, and every deploy of
a session runs once at a time with the same idempotency key."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from contracts.profile import BotProfile
from ui.wizard import DeployAction, DeployResult, Wizard, WizardHost


class FakeHost:
    def __init__(self) -> None:
        self.cloud: dict[int, list[dict[str, Any]]] | None = None
        self.plan: list[str] = []
        self.runs: list[tuple[str, str, str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.answer: DeployResult = '<p class="wiz-created">Created</p>'

    async def validate(self, step: int, _section: dict[str, Any]) -> list[dict[str, Any]] | None:
        return None if self.cloud is None else self.cloud.get(step, [])

    async def hosted_check(self) -> list[str]:
        return self.plan

    def action(self, label: str, surface: Any) -> DeployAction:
        async def run(profile: BotProfile, extras: Mapping[str, Any], key: str) -> DeployResult:
            self.runs.append((label, profile.basics.name, key))
            await self.release.wait()
            return self.answer

        return DeployAction(label, f"wiz-{label}", surface, run)

    def host(self) -> WizardHost:
        return WizardHost(
            deploy_actions=(self.action("local", "local"), self.action("hosted", "hosted")),
            validate=self.validate,
            hosted_check=self.hosted_check,
        )


def errors_of(wizard: Wizard) -> str:
    return str(wizard.messages.object) if wizard.messages.visible else ""


async def test_the_clouds_verdict_comes_first_and_is_marked_as_the_clouds() -> None:
    fake = FakeHost()
    fake.cloud = {1: [{"field": "name", "msg": "Value error, taken"}]}
    wizard = Wizard(fake.host())
    await wizard.go_to(2)
    assert wizard.step == 1
    assert "Bot name: taken" in errors_of(wizard) and 'data-checked-by="cloud"' in errors_of(wizard)
    assert wizard.field_errors["name"].visible and "taken" in str(wizard.field_errors["name"].object)


async def test_a_fault_stops_the_walk_at_its_step_and_back_keeps_the_values() -> None:
    wizard = Wizard(FakeHost().host())
    wizard.w["n_states"].value = 4
    await wizard.go_to(7)
    assert wizard.step == 5 and "3 exposures for 4 regimes" in errors_of(wizard)
    assert wizard.history.step == 5  # the address bar says where the trader is
    assert wizard.field_errors["exposure_per_regime"].visible
    await wizard.go_to(2)
    assert wizard.step == 2 and wizard.w["n_states"].value == 4 and errors_of(wizard) == ""


async def test_hosted_is_checked_against_the_plan_at_step_1() -> None:
    fake = FakeHost()
    fake.plan = ["Runs on: your free plan runs bots on your own machine only"]
    wizard = Wizard(fake.host())
    wizard.w["surface"].value = "hosted"
    await wizard.go_to(2)
    assert wizard.step == 1 and "your free plan" in errors_of(wizard)


async def test_the_review_offers_the_deploy_for_the_chosen_surface_and_asks_for_the_confirmation() -> None:
    fake = FakeHost()
    wizard = Wizard(fake.host())
    await wizard.go_to(7)
    assert wizard.step == 7 and "Exposure per regime" in str(wizard.review.object)
    assert "the gain may be luck" in str(wizard.review.object)  # the evidence, next to the settings it is about
    assert "Re-arm after a halt" in str(wizard.review.object)
    local, hosted = wizard.deploy
    assert local.visible and not hosted.visible
    await wizard.run(fake.host().deploy_actions[0], local)
    assert fake.runs == [] and "Confirmation: tick" in errors_of(wizard)
    assert not local.disabled  # re-enabled after the browser disabled it on the click


async def test_a_double_click_deploys_once_and_every_action_shares_the_sessions_key() -> None:
    fake = FakeHost()
    fake.release.clear()
    wizard = Wizard(fake.host())
    await wizard.go_to(7)
    wizard.confirm.value = True
    action, button = fake.host().deploy_actions[0], wizard.deploy[0]
    first = asyncio.ensure_future(wizard.run(action, button))
    await asyncio.sleep(0)  # the first click is being deployed
    await wizard.run(action, button)
    fake.release.set()
    await first
    assert len(fake.runs) == 1 and wizard.created and button.disabled
    await wizard.run(action, button)
    assert len(fake.runs) == 1

    fake2 = FakeHost()
    fake2.answer = ["Broker account: BROKER_KIND is missing"]
    again = Wizard(fake2.host())
    again.w["surface"].value = "hosted"
    await again.go_to(7)
    again.confirm.value = True
    await again.run(fake2.host().deploy_actions[1], again.deploy[1])
    await again.run(fake2.host().deploy_actions[1], again.deploy[1])
    assert [run[2] for run in fake2.runs] == [again.idempotency_key] * 2 and not again.created


async def test_choosing_regimes_automatically_disables_the_number_and_the_profile_says_auto() -> None:
    wizard = Wizard(FakeHost().host())
    wizard.w["auto_states"].value = True
    assert wizard.w["n_states"].disabled
    await wizard.go_to(7)
    assert wizard.step == 7 and "auto: 2-4, chosen at each refit (BIC)" in str(wizard.review.object)
    wizard.w["auto_states"].value = False
    assert not wizard.w["n_states"].disabled


async def test_two_symbols_show_the_portfolio_fields_and_their_errors_stop_the_walk_at_the_field() -> None:
    wizard = Wizard(FakeHost().host())
    portfolio = ("scope", "reference_symbol", "weights")
    assert not any(wizard.w[key].visible for key in portfolio)  # one symbol: nothing to ask
    wizard.w["symbols"].value = "SPY QQQ"
    wizard.w["data_source"].value = "bundled"
    assert all(wizard.w[key].visible for key in portfolio)
    assert wizard.w["reference_symbol"].options == ["SPY", "QQQ"] and wizard.w["reference_symbol"].value == "SPY"
    assert "in the order SPY, QQQ" in wizard.w["weights"].label
    wizard.w["scope"].value = "per_symbol"
    assert not wizard.w["reference_symbol"].visible  # every symbol reads its own regime

    wizard.w["weights"].value = "70, 40"
    await wizard.go_to(7)
    assert wizard.step == 5 and "Capital weights: they add up to 110%" in errors_of(wizard)
    assert wizard.field_errors["weights"].visible
    wizard.w["weights"].value = "70, 30"
    await wizard.go_to(7)
    assert wizard.step == 7
    review = str(wizard.review.object)
    assert "a model per symbol (SPY, QQQ), each on its own series" in review
    assert "SPY 70% · QQQ 30%" in review

    wizard.w["symbols"].value = "SPY"  # back to one symbol: the portfolio fields go away again
    assert not any(wizard.w[key].visible for key in portfolio)


async def test_a_reference_that_is_no_longer_a_symbol_falls_back_to_the_first() -> None:
    wizard = Wizard(FakeHost().host())
    wizard.w["symbols"].value = "SPY, QQQ"
    wizard.w["reference_symbol"].value = "QQQ"
    wizard.w["symbols"].value = "SPY, IWM"
    assert wizard.w["reference_symbol"].value == "SPY"
    wizard.w["symbols"].value = "SPY, QQQ"
    wizard.w["reference_symbol"].value = "QQQ"
    wizard.w["data_source"].value = "bundled"
    await wizard.go_to(7)
    assert wizard.step == 7 and "one model on QQQ sets every symbol&#x27;s exposure" in str(wizard.review.object)


async def test_choosing_the_bundled_pair_with_one_of_its_symbols_fills_in_both() -> None:
    wizard = Wizard(FakeHost().host())
    assert wizard.w["symbols"].value == "SPY"
    wizard.w["data_source"].value = "bundled"
    assert wizard.w["symbols"].value == "SPY, QQQ" and wizard.w["weights"].visible
    mine = Wizard(FakeHost().host())
    mine.w["symbols"].value = "IWM"  # not the pair's: left for the step's check to name
    mine.w["data_source"].value = "bundled"
    assert mine.w["symbols"].value == "IWM"
