"""The "Re-arm…" control of a halted bot, shared by the agent's dashboard and the web app.

It shows only while the bot's latest record says ``halted`` or ``killed``, and asks before
it acts, naming the bot: a re-arm puts money back in the market. What a click does is the
caller's (the agent leaves a request in the bot's state dir; the web app calls the API);
it returns the sentence to show, and raises ``RearmFailed`` with words for the user if it failed.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import panel as pn

from ui.charts import STOPPED


class RearmFailed(Exception):
    """A re-arm that did not go through; the message is HTML for the user (escape what goes into it)."""


class RearmControl:
    def __init__(self, bot_name: str, rearm: Callable[[], Awaitable[str]], *, bot_id: str = "") -> None:
        self._name, self._rearm = bot_name, rearm
        marker = [f"for-{bot_id}"] if bot_id else []
        self.button = pn.widgets.Button(
            label="Re-arm…", button_type="warning", width=90, visible=False, css_classes=["bot-rearm", *marker]
        )
        self.yes = pn.widgets.Button(
            label=f"Yes, re-arm {bot_name}", button_type="danger", css_classes=["bot-rearm-yes", *marker]
        )
        self.no = pn.widgets.Button(label="Cancel", css_classes=["bot-rearm-no", *marker])
        question = pn.pane.HTML(
            f"<span>Re-arm <b>{html.escape(bot_name)}</b>? Its drawdown halt ends and it trades again from its "
            "next bar, with the drawdown measured from its equity then.</span>"
        )
        self.confirm = pn.FlexBox(
            question, self.yes, self.no, visible=False, flex_wrap="wrap", css_classes=["bot-rearm-confirm", *marker]
        )
        self.message = pn.pane.HTML("", css_classes=["bot-rearm-message", *marker])  # one per bot on the Bots page
        self.panel = pn.FlexBox(self.button, self.confirm, self.message, flex_wrap="wrap", sizing_mode="stretch_width")
        self.button.on_click(self._ask)
        self.no.on_click(self._cancel)
        self.yes.on_click(self._confirmed)

    def show_for(self, risk: str | None) -> None:
        """Offer the re-arm while the bot is halted; hide it (and any pending question) otherwise."""
        halted = risk in STOPPED
        if halted and not self.button.visible:
            self.message.object = ""  # a new halt: what was said about the last one is stale
        self.button.visible = halted
        if not halted:
            self.confirm.visible = False

    def _ask(self, _event: object) -> None:
        self.confirm.visible, self.message.object = True, ""

    def _cancel(self, _event: object) -> None:
        self.confirm.visible = False

    async def _confirmed(self, _event: object) -> None:
        self.yes.disabled = True  # one click, one request
        try:
            said = await self._rearm()
        except RearmFailed as exc:
            self.message.object = f'<p class="loss">{html.escape(self._name)}: {exc}</p>'
        else:
            self.message.object = f'<p class="bots-done">{html.escape(said)}</p>'
            self.confirm.visible = False
        finally:
            self.yes.disabled = False
