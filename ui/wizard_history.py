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

    Messages, not a synced property: after two quick Backs the answer to the first (step 2)
    reaches the browser when its address already says step 1, and a property echo would push
    a stray entry there. Following the browser never pushes; only :meth:`correct` (the step the
    browser asked for could not be reached) rewrites the current entry.
    """

    step = param.Integer(default=1, bounds=(1, None), doc="The step shown (kept for the page's own reading).")

    _esm = """
    const urlStep = () => parseInt(new URLSearchParams(window.location.search).get("step") || "1", 10)
    const urlFor = (step) => {
      const params = new URLSearchParams(window.location.search)
      params.set("step", String(step))
      return `${window.location.pathname}?${params}${window.location.hash}`
    }
    export function render({ model }) {
      // a reload starts a new session at step 1: the address says so without a new entry
      window.history.replaceState(window.history.state, "", urlFor(model.step))
      model.on("msg:custom", (msg) => {
        if (msg.push !== undefined && urlStep() !== msg.push) {
          window.history.pushState({ wizardStep: msg.push }, "", urlFor(msg.push))
        } else if (msg.replace !== undefined) {
          window.history.replaceState({ wizardStep: msg.replace }, "", urlFor(msg.replace))
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

    def push(self, step: int) -> None:
        """The page moved to ``step`` by its own buttons: one new history entry."""
        if step != self.step:
            self.step = step
            self._send_msg({"push": step})

    def correct(self, step: int) -> None:
        """The browser went to another step than ``step``, which is where the page stayed."""
        self.step = step
        self._send_msg({"replace": step})

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
