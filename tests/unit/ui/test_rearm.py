"""The Re-arm control: offered only while the bot is halted or killed, it asks first, naming the bot."""

from __future__ import annotations

import panel as pn

from tests.conftest import wait_for
from ui.rearm import RearmControl, RearmFailed


def click(button: pn.widgets.Button) -> None:
    button.clicks += 1


async def _settled(control: RearmControl) -> bool:
    return bool(control.message.object)


class Calls:
    def __init__(self, fail: str | None = None) -> None:
        self.count, self.fail = 0, fail

    async def __call__(self) -> str:
        self.count += 1
        if self.fail:
            raise RearmFailed(self.fail)
        return "Re-arm requested: Alpha trades again from its next bar."


def test_the_button_shows_only_while_the_bot_is_halted_or_killed() -> None:
    control = RearmControl("Alpha", Calls())
    assert not control.button.visible
    for risk, shown in (("killed", True), ("ok", False), ("halted", True), (None, False), ("adjusted", False)):
        control.show_for(risk)
        assert control.button.visible is shown, risk


async def test_a_click_asks_naming_the_bot_and_only_yes_rearms() -> None:
    calls = Calls()
    control = RearmControl("Alpha <fund>", calls)
    control.show_for("killed")
    click(control.button)
    assert control.confirm.visible and control.yes.label == "Yes, re-arm Alpha <fund>"
    assert "Re-arm <b>Alpha &lt;fund&gt;</b>?" in control.confirm.objects[0].object
    click(control.no)
    assert not control.confirm.visible and calls.count == 0

    click(control.button)
    click(control.yes)
    await wait_for(lambda: _settled(control), what="the re-arm to answer")
    assert calls.count == 1 and not control.confirm.visible
    assert "trades again from its next bar" in control.message.object


async def test_a_refused_rearm_says_why_and_keeps_the_question_open() -> None:
    control = RearmControl("Alpha", Calls(fail="Bot 'Alpha' is not halted"))
    control.show_for("killed")
    click(control.button)
    click(control.yes)
    await wait_for(lambda: _settled(control), what="the re-arm to answer")
    assert control.confirm.visible and "is not halted" in control.message.object
    assert not control.yes.disabled
