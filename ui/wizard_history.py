"""``?step=N`` in the address bar, one browser history entry per wizard step.

The wizard lives in one page session, so the browser's Back must not leave the page (that
would drop everything typed): each step pushes a history entry, and Back/Forward come back
here as the step to show.

Why not ``pn.state.location`` alone: Panel's Location pushes an entry when Python changes
``search`` but never hears the browser's ``popstate`` (only ``hashchange``), and a step
followed from Python would push a duplicate entry (one more Back needed). This component is
Location's pushing half plus the listening half, in a dozen lines of JS served by Panel itself
(no CDN).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import param
from panel.custom import JSComponent
from panel.io.state import state


class StepHistory(JSComponent):
    """:meth:`push` a step the page moved to; ``on_step`` hears where the browser's Back/Forward went.

    What the browser should do travels as the synced ``entry`` property, not as a custom message:
    property changes reach the browser in the order Python made them, with the page's own changes,
    while a custom message could arrive after the page already showed the new step. So the wizard
    sets ``entry`` *before* it shows the step, and a Back pressed on that step finds its entry.
    (Seen in the browser tests: the title said step 4 while the address still said step 3, and
    Back skipped step 3.)

    Each entry names the step the page believed the browser was on (``at``): when the browser
    moved meanwhile (Back pressed before the push arrived), the push is dropped and the browser's
    own move, already on its way to Python, wins. Following the browser never pushes, so the
    answer to a first quick Back cannot push a stray entry after a second one.
    """

    entry = param.Dict(
        default={"step": 1, "kind": "follow", "at": 1, "seq": 0},
        doc="The step shown and what the browser's history should do about it: push, replace or follow.",
    )

    _esm = """
    const urlStep = () => parseInt(new URLSearchParams(window.location.search).get("step") || "1", 10)
    const urlFor = (step) => {
      const params = new URLSearchParams(window.location.search)
      params.set("step", String(step))
      return `${window.location.pathname}?${params}${window.location.hash}`
    }
    export function render({ model }) {
      // a reload starts a new session at step 1: the address says so without a new entry
      window.history.replaceState(window.history.state, "", urlFor(model.entry.step))
      model.on("entry", () => {
        const { step, kind, at } = model.entry
        if (kind === "push" && urlStep() === at) {
          window.history.pushState({ wizardStep: step }, "", urlFor(step))
        } else if (kind === "replace") {
          window.history.replaceState({ wizardStep: step }, "", urlFor(step))
        }
      })
      const onPop = () => model.send_msg({ step: urlStep() })
      window.addEventListener("popstate", onPop)
      model.on("remove", () => window.removeEventListener("popstate", onPop))
    }
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._listeners: list[Callable[[int], Any]] = []

    @property
    def step(self) -> int:
        """The step the browser's address says (or is about to say)."""
        return int(self.entry["step"])

    def _set(self, step: int, kind: str) -> None:
        self.entry = {"step": step, "kind": kind, "at": self.step, "seq": int(self.entry["seq"]) + 1}

    def push(self, step: int) -> None:
        """The page moves to ``step`` by its own buttons: one new history entry. Call it before
        showing the step."""
        if step != self.step:
            self._set(step, "push")

    def correct(self, step: int) -> None:
        """The browser went to another step than ``step``, which is where the page stayed."""
        self._set(step, "replace")

    def follow(self, step: int) -> None:
        """The browser is already at ``step``: nothing to change in its history."""
        if step != self.step:
            self._set(step, "follow")

    def on_step(self, listener: Callable[[int], Any]) -> None:
        """Call ``listener(step)`` when the browser's Back/Forward lands on ``?step=step``."""
        self._listeners.append(listener)

    def _handle_msg(self, data: Any) -> None:
        try:
            step = int(data["step"])
        except (KeyError, TypeError, ValueError):
            return
        for listener in self._listeners:
            state.execute(partial(listener, step), schedule=False)  # a coroutine function runs as a task
