"""Page chrome: phones get a viewport, every button colour carries readable white text, focus shows."""

from __future__ import annotations

import re

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc

from ui.page import BASE_CSS, BUTTON_COLORS, PAGE_TEMPLATE, VIEWPORT_META, apply_chrome
from ui.regimes import contrast_on_white


def test_a_page_gets_the_viewport_tag_and_the_shared_css_for_its_session_only() -> None:
    doc = Document()
    with set_curdoc(doc):
        apply_chrome()
        apply_chrome()  # twice is once
        assert pn.config.raw_css.count(BASE_CSS) == 1
    assert doc.template == PAGE_TEMPLATE and VIEWPORT_META in PAGE_TEMPLATE
    assert BASE_CSS not in pn.config.raw_css  # another session (or none) is untouched


def test_white_text_on_every_button_colour_meets_wcag_aa() -> None:
    for kind, color in BUTTON_COLORS.items():
        assert contrast_on_white(color) >= 4.5, kind
        assert re.search(rf"\.bk-btn-{kind}[^{{]*\{{ background-color: {color};[^}}]*color: #fff", BASE_CSS)


def test_keyboard_focus_draws_a_visible_ring() -> None:
    assert ":focus-visible" in BASE_CSS and "outline: 3px solid" in BASE_CSS


def test_a_page_built_outside_a_session_leaves_every_sessions_css_alone() -> None:
    apply_chrome()
    assert BASE_CSS not in pn.config.raw_css
