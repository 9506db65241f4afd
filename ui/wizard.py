"""The new-bot wizard, one implementation for the local agent and the cloud web app.

Six steps fill a :class:`contracts.profile.BotProfile`, a seventh reviews it and deploys it.
What differs between the two apps is passed in as a :class:`WizardHost`: where a bot may run,
which broker accounts step 2 offers, whom to ask about a step, what the plan allows, and the
deploy buttons. Everything a trader sees and the rules of the walk are here:

* each step is checked when Next is pressed: first by ``host.validate`` (the cloud's verdict,
  which create will hold the bot to; ``None`` when it cannot be asked), then by the same
  contracts model here, then against the steps before it. Errors name the field, in plain
  words, above the form and under the field itself;
* ``?step=N`` follows the steps in the browser's history: Back and Forward move between steps
  of the same session, keeping every value (:mod:`ui.wizard_history`);
* every deploy action of a session carries one idempotency key, and the pressed button is
  disabled in the browser before its click reaches the server: a double click creates one bot.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import panel as pn
from pydantic import ValidationError

from contracts.profile import BUNDLED_SERIES, BotProfile
from ui.evidence import DEFAULT_EVIDENCE
from ui.wizard_confirm import ConfirmBox
from ui.wizard_form import form_widgets
from ui.wizard_history import StepHistory
from ui.wizard_portfolio import file_hint, is_portfolio, reference_choices
from ui.wizard_steps import (
    BUILT_IN,
    REVIEW_STEP,
    STEP_FIELDS,
    local_problems,
    profile_body,
    review_rows,
    section,
    step_title,
)
from ui.wizard_words import FieldProblem, Problem, cloud_problems, problem

Surface = Literal["local", "hosted"]
DeployResult = str | list[str]
"""HTML saying what was created (shown in ``.wiz-created``), or error lines to fix."""


@dataclass(frozen=True)
class DeployAction:
    """A button on the review step. ``surface``: the bots it deploys (None: either)."""

    label: str
    css_class: str
    surface: Surface | None
    run: Callable[[BotProfile, Mapping[str, Any], str], Awaitable[DeployResult]]
    """``run(profile, extras, idempotency_key)``; ``extras`` holds the host's step-2 widget values
    and ``connection_pick`` (the picked account's value, e.g. the agent's local ``.env`` choice)."""


async def _no_cloud(_step: int, _section: dict[str, Any]) -> list[dict[str, Any]] | None:
    return None


async def _any_plan() -> list[str]:
    return []


async def _no_channels() -> dict[str, str]:
    return {}


async def _paper_only() -> dict[str, str]:
    return {BUILT_IN: "paper"}


@dataclass
class WizardHost:
    """What the app hosting the wizard provides; built once per page session."""

    deploy_actions: Sequence[DeployAction]
    connection_options: Callable[[], Awaitable[dict[str, str]]] = _paper_only
    """Step 2's picker, label -> value ('paper', a connection id, or a host's own choice)."""
    validate: Callable[[int, dict[str, Any]], Awaitable[list[dict[str, Any]] | None]] = _no_cloud
    """The cloud's verdict on a step: its field errors (``{"field", "msg"}``, ``[]`` when valid), or
    None when it cannot be asked (logged out, offline): then the local model decides alone."""
    hosted_check: Callable[[], Awaitable[list[str]]] = _any_plan
    """Step 1 with 'hosted' chosen: why this account cannot have one more hosted bot (see
    :func:`ui.wizard_words.hosted_refusal`), or ``[]``."""
    surfaces: Sequence[Surface] = ("local", "hosted")
    """The 'Runs on' choices, the default first."""
    notify_channels: Callable[[], Awaitable[dict[str, str]]] = _no_channels
    """Step 6's notification channels, label -> channel id (see :func:`ui.wizard_steps.notify_choices`)."""
    extra_step2: Mapping[str, pn.widgets.Widget] = field(default_factory=dict)
    """Widgets shown under the broker picker; their values reach the deploy actions as ``extras``."""


_REVIEW_CSS = (
    ".wiz-review-table{border-collapse:collapse;font-size:14px;margin:4px 0 10px}"
    ".wiz-review-table caption{text-align:left;font-weight:600;padding-bottom:6px}"
    ".wiz-review-table th,.wiz-review-table td{text-align:left;padding:4px 14px 4px 0;vertical-align:top}"
    ".wiz-review-table tbody tr{border-bottom:1px solid #e3e3e3}"
    ".wiz-review-table thead th{border-bottom:2px solid #999;color:#444}"
    ".wiz-evidence{font-size:13px;color:#444;max-width:760px;margin:4px 0 10px}"
)


class Wizard:
    """One wizard session: build it inside a page function and place :attr:`view` on the page."""

    def __init__(self, host: WizardHost) -> None:
        self.host = host
        self.w = form_widgets(host.surfaces)
        self.idempotency_key = f"wizard:{uuid.uuid4().hex}"  # every deploy action of this session
        self.step = 1
        self.created = False
        self._busy = False
        self._form_step = 0  # the step whose fields the form shows
        self._review_problems: list[Problem | str] = []
        self.title = pn.pane.HTML("", css_classes=["wiz-title"])
        self.messages = pn.pane.HTML("", visible=False, css_classes=["wiz-errors"], sizing_mode="stretch_width")
        self.field_errors = {
            key: pn.pane.HTML("", visible=False, css_classes=["wiz-field-error", f"wiz-error-{key}"]) for key in self.w
        }
        self.form = pn.Column(sizing_mode="stretch_width")
        self.review = pn.pane.HTML("", visible=False, css_classes=["wiz-review"], sizing_mode="stretch_width")
        self.confirm = ConfirmBox(
            label="I reviewed these settings and accept the risks of trading with this bot",
            visible=False,
            css_classes=["wiz-confirm"],
            sizing_mode="stretch_width",
        )
        self.back = pn.widgets.Button(name="Back", width=90, css_classes=["wiz-back"])
        self.next = pn.widgets.Button(name="Next", button_type="primary", width=90, css_classes=["wiz-next"])
        self.deploy = [self._deploy_button(action) for action in host.deploy_actions]
        self.done = pn.pane.HTML("", css_classes=["wiz-done"])
        self.history = StepHistory(width=0, height=0, margin=0)
        self.w["mode"].param.watch(self._on_mode, "value")
        self.w["auto_states"].param.watch(self._on_auto_states, "value")
        self.w["symbols"].param.watch(self._on_portfolio, "value")
        self.w["scope"].param.watch(self._on_portfolio, "value")
        self.w["data_source"].param.watch(self._on_data_source, "value")
        self.back.on_click(self._on_back)
        self.next.on_click(self._on_next)
        self.history.on_step(self._follow_browser)
        self._render()
        self.view = pn.Column(
            self.title,
            self.messages,
            self.form,
            self.review,
            self.confirm,
            pn.Row(self.back, self.next, *self.deploy),
            self.done,
            self.history,
            sizing_mode="stretch_width",
        )

    # ---- state -> page ------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {key: widget.value for key, widget in self.w.items()}

    def extras(self) -> dict[str, Any]:
        return {
            "connection_pick": self.w["connection"].value,
            **{k: x.value for k, x in self.host.extra_step2.items()},
        }

    def _field_block(self, key: str) -> pn.Column:
        return pn.Column(self.w[key], self.field_errors[key], margin=0, sizing_mode="stretch_width")

    def _render(self) -> None:
        step = self.step
        self.title.object = f'<h3 data-step="{step}">{html.escape(step_title(step))}</h3>'
        if step != self._form_step:
            # only when the step changes: rebuilding the form re-creates its widgets in the browser,
            # which would drop a choice made while an error was being shown
            self._form_step = step
            if step < REVIEW_STEP:
                blocks: list[Any] = [self._field_block(key) for key in STEP_FIELDS[step - 1]]
                self.form.objects = blocks + (list(self.host.extra_step2.values()) if step == 2 else [])
            else:
                self.form.objects = []
        self.review.visible = self.confirm.visible = step == REVIEW_STEP
        self.back.disabled = step == 1
        self.next.visible = step < REVIEW_STEP
        surface = self.w["surface"].value
        for button, action in zip(self.deploy, self.host.deploy_actions, strict=True):
            button.visible = step == REVIEW_STEP and action.surface in (None, surface)
            button.disabled = self.created or self._busy

    def show(self, problems: Sequence[Problem | str]) -> None:
        """Errors above the form (all of them) and under each field they are about."""
        for pane in self.field_errors.values():
            pane.object, pane.visible = "", False
        lines = []
        by_cloud = False
        for p in problems:
            lines.append(str(p))
            if isinstance(p, Problem):
                by_cloud = by_cloud or p.by_cloud
                if p.field in self.field_errors:
                    pane = self.field_errors[p.field]
                    pane.object = f'<div style="color:#b00020;font-size:13px">{html.escape(p.message)}</div>'
                    pane.visible = True
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        checked = ' data-checked-by="cloud"' if by_cloud else ""
        self.messages.object = (
            f'<div role="alert"{checked} style="border:1px solid #b00020;background:#fdecee;padding:6px 12px">'
            f"<b>Fix {'this' if len(lines) == 1 else 'these'} before going on:</b><ul>{items}</ul></div>"
        )
        self.messages.visible = bool(lines)

    # ---- the walk -------------------------------------------------------------------------------
    async def check(self, step: int) -> list[Problem | str]:
        """What stops step ``step`` (1-6): the cloud's verdict when it can be asked, else this side's
        (the same contracts model); then what spans steps, then the plan for a hosted bot."""
        values = self.values()
        try:
            body = section(step, values)
        except FieldProblem as exc:
            return [exc.problem]
        cloud = await self.host.validate(step, body)
        if cloud:
            return list(cloud_problems(cloud))
        found: list[Problem | str] = list(local_problems(step, values))
        if not found and step == 1 and values["surface"] == "hosted":
            found = list(await self.host.hosted_check())
        return found

    async def go_to(self, target: int, *, from_browser: bool = False) -> None:
        """Move to ``target``: back at once, forward one checked step at a time (stops at a fault).

        The page's own buttons push a history entry; a move the browser made is already in its
        history, and is only corrected when the page could not follow it all the way."""
        target = max(1, min(REVIEW_STEP, target))
        problems: list[Problem | str] = []
        while self.step < target:
            problems = await self.check(self.step)
            if problems:
                break
            self.step += 1
            if self.step == 2:
                await self._load_connections()
            if self.step == 6:
                await self._load_notify_channels()
            if self.step == REVIEW_STEP and not self._fill_review():
                self.step -= 1
                problems = self._review_problems
                break
        else:
            self.step = min(self.step, target)
        # the history first: its change reaches the browser before the new step shows, so a Back
        # pressed on the step shown finds that step's entry (the other order skipped it)
        if not from_browser:
            self.history.push(self.step)
        elif self.step != target:
            self.history.correct(self.step)
        else:
            self.history.follow(self.step)  # the browser is already there
        self.show(problems)
        self._render()

    async def _on_next(self, _event: object) -> None:
        await self.go_to(self.step + 1)

    async def _on_back(self, _event: object) -> None:
        await self.go_to(self.step - 1)

    async def _follow_browser(self, step: int) -> None:
        if step != self.step:
            await self.go_to(step, from_browser=True)

    async def _load_connections(self) -> None:
        picker = self.w["connection"]
        options = await self.host.connection_options()
        kept = picker.value if picker.value in options.values() else next(iter(options.values()))
        picker.options = options
        picker.value = kept

    async def _load_notify_channels(self) -> None:
        picker = self.w["notify_channels"]
        options = await self.host.notify_channels()
        picker.options = options
        picker.value = [v for v in picker.value if v in options.values()]

    def _fill_review(self) -> bool:
        try:
            profile = BotProfile.model_validate(profile_body(self.values()))
        except ValidationError as exc:  # the step checks passed, so only a rule they do not know
            self._review_problems = [problem(e["loc"], e["msg"]) for e in exc.errors()]
            return False
        picked = {v: k for k, v in self.w["connection"].options.items()}.get(self.w["connection"].value)
        rows, shown = [], ""
        for title, label, value in review_rows(profile, connection_label=picked):
            group = html.escape(title) if title != shown else ""
            shown = title
            rows.append(f"<tr><th>{group}</th><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>")
        self.review.object = (
            f"<style>{_REVIEW_CSS}</style>"
            '<table class="wiz-review-table"><caption>Your bot, as it will be created</caption>'
            f"<thead><tr><th>Step</th><th>Setting</th><th>Value</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="wiz-evidence">{html.escape(DEFAULT_EVIDENCE)}</p>'
        )
        self.confirm.value = False  # asked again after any change to what it confirms
        return True

    def _on_auto_states(self, event: Any) -> None:
        self.w["n_states"].disabled = bool(event.new)  # auto chooses it at each refit: a number would be ignored

    def _on_data_source(self, event: Any) -> None:
        """Choosing the bundled pair with one of its symbols typed means both: fill in the other."""
        typed = reference_choices(self.values())
        if event.new == "bundled" and len(typed) < 2 and set(typed) <= set(BUNDLED_SERIES):
            self.w["symbols"].value = ", ".join(BUNDLED_SERIES)

    def _on_portfolio(self, _event: object) -> None:
        """Two or more symbols: show where the regime is read and how the capital is split."""
        values = self.values()
        several = is_portfolio(values)
        self.w["scope"].visible = self.w["weights"].visible = several
        self.w["reference_symbol"].visible = several and values["scope"] == "reference"
        reference = self.w["reference_symbol"]
        choices = reference_choices(values) or [""]
        kept = reference.value if reference.value in choices else choices[0]
        reference.options = choices
        reference.value = kept
        order = f", in the order {', '.join(choices)}" if several else ""
        self.w["weights"].label = f"Capital weights (% of equity per symbol{order})"
        self.w["data_file"].label = file_hint(values)

    def _on_mode(self, event: Any) -> None:
        self.w["live_confirmation"].visible = event.new == "live"
        if event.new != "live":
            self.w["live_confirmation"].value = ""  # typed again after any switch back to live

    # ---- deploy ---------------------------------------------------------------------------------
    def _deploy_button(self, action: DeployAction) -> pn.widgets.Button:
        button = pn.widgets.Button(
            name=action.label,
            button_type="success" if action.surface != "hosted" else "primary",
            visible=False,
            css_classes=[action.css_class],
        )
        # disabled in the browser before the click is even sent: a second click has nothing to press
        button.js_on_click(code="source.disabled = true")

        async def clicked(_event: object) -> None:
            await self.run(action, button)

        button.on_click(clicked)
        return button

    async def run(self, action: DeployAction, button: pn.widgets.Button) -> None:
        """One deploy at a time per session, each with the session's idempotency key."""
        if self._busy or self.created:
            return
        self._busy = True
        try:
            problems = self._deploy_problems()
            result: DeployResult | list[Problem | str] = problems or await action.run(
                BotProfile.model_validate(profile_body(self.values())), self.extras(), self.idempotency_key
            )
        finally:
            self._busy = False
        if isinstance(result, list):
            self.show(result)
            button.disabled = True  # the browser disabled it on click: a change Python sees re-enables it
            self._render()
            return
        self.created = True
        self.show([])
        self.done.object = result + '<p><a class="wiz-again" href="?step=1">Start another bot</a></p>'
        self._render()

    def _deploy_problems(self) -> list[Problem | str]:
        if not self.confirm.value:
            return [Problem("confirmed", f"tick '{self.confirm.label}' to deploy the bot")]
        return []
