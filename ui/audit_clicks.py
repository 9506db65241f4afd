"""Which audit row the trader clicked, told by the browser as the row's own (bot, seq) key.

Why not Tabulator's selection: with remote pagination the browser reports a row *position*,
and the server maps it through the frame it holds now. Records stream in above the rows every
second, so by the time a click arrives the server's frame may be newer than the one the browser
drew, and the position names a neighbour (seen: clicked seq 17, opened seq 92). The key this
component reads is in the clicked row's own markup (``data-audit-key`` on its bot cell), so it
is the record the trader saw, whatever the server's frame says meanwhile.

The listener sits on the document in the capture phase: it hears the click before Tabulator's
own row handler, and ``composedPath()`` sees through the shadow roots Panel renders into.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent

_KEY = re.compile(r"(?P<bot>[^\s:]+):(?P<seq>\d{1,18})")


def marked_cell(view: str, bot_id: str, seq: int, text: str) -> str:
    """The bot cell's HTML: ``text`` (escaped) carrying the row's key for :class:`RowClicks`."""
    return (
        f'<span data-audit-view="{html.escape(view)}" data-audit-key="{html.escape(bot_id)}:{seq}">'
        f"{html.escape(text)}</span>"
    )


OPENED_ROW_BACKGROUND = "#cfe3ff"  # the selected-row blue: dark text on it stays above 4.5:1


def opened_row_css(bot_id: str, seq: int) -> str:
    """A stylesheet rule for the Tabulator that highlights the row carrying this key."""
    key = f"{bot_id}:{seq}".replace("\\", "\\\\").replace('"', '\\"').replace("\n", "")
    return f'.tabulator-row:has([data-audit-key="{key}"]) {{ background-color: {OPENED_ROW_BACKGROUND} !important; }}'


def parse_key(data: Any, view: str) -> tuple[str, int] | None:
    """The (bot, seq) of a browser message for ``view``; None for anything else (the browser is
    not trusted: a message for another view, a missing or malformed key)."""
    if not isinstance(data, dict) or data.get("view") != view or not isinstance(data.get("key"), str):
        return None
    match = _KEY.fullmatch(data["key"])
    return (match["bot"], int(match["seq"])) if match else None


class RowClicks(JSComponent):
    """Calls ``on_click(bot_id, seq)`` with the key of the audit row clicked in the browser."""

    view = param.String(default="", doc="The audit view whose rows this listens to (their data-audit-view).")

    _esm = """
    export function render({ model }) {
      const onClick = (event) => {
        for (const el of event.composedPath()) {
          if (!(el instanceof Element) || !el.classList.contains("tabulator-row")) continue
          const mark = el.querySelector("[data-audit-key]")
          if (mark && mark.getAttribute("data-audit-view") === model.view) {
            model.send_msg({ view: model.view, key: mark.getAttribute("data-audit-key") })
          }
          return
        }
      }
      document.addEventListener("click", onClick, true)
      model.on("remove", () => document.removeEventListener("click", onClick, true))
    }
    """

    def __init__(self, on_click: Callable[[str, int], Any], **params: Any) -> None:
        super().__init__(**params)
        self._on_click = on_click

    def _handle_msg(self, data: Any) -> None:
        key = parse_key(data, self.view)
        if key is not None:
            self._on_click(*key)
