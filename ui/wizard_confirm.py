"""The review's confirmation: a checkbox inside a real ``<label>``.

Bokeh's Checkbox draws its text as a ``<div>`` beside the input, so a click on the text does
nothing and a screen reader announces an unnamed checkbox. This one is plain HTML: the text
is the input's label, clicking it ticks the box, and ``get_by_label`` finds it.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class ConfirmBox(JSComponent):
    """A labelled checkbox; ``value`` follows the box both ways."""

    value = param.Boolean(default=False)
    label = param.String(default="")

    _esm = """
    export function render({ model }) {
      const box = document.createElement("input")
      box.type = "checkbox"
      box.checked = model.value
      const text = document.createElement("span")
      text.textContent = model.label
      const label = document.createElement("label")
      label.style.cssText = "display:flex;gap:8px;align-items:center;font-size:14px;cursor:pointer"
      label.append(box, text)
      box.addEventListener("change", () => { model.value = box.checked })
      model.on("value", () => { box.checked = model.value })
      model.on("label", () => { text.textContent = model.label })
      return label
    }
    """
