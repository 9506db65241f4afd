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
    """Set ``step`` to push ``?step=N``; ``on_step`` hears the step the browser went back or forward to."""

    step = param.Integer(default=1, bounds=(1, None), doc="The step shown; a change pushes a history entry.")

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
      model.on("step", () => {
        if (urlStep() !== model.step) window.history.pushState({ wizardStep: model.step }, "", urlFor(model.step))
      })
      const onPop = () => model.send_msg({ step: urlStep() })
      window.addEventListener("popstate", onPop)
      model.on("remove", () => window.removeEventListener("popstate", onPop))
    }
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._listeners: list[Callable[[int], Any]] = []

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
