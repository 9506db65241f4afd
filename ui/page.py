"""Page chrome every HMM Trade page needs, in the agent and the web app alike.

- The viewport meta tag: without it a phone lays the page out 980 px wide and shrinks it.
- One CSS block with readable contrast (WCAG AA, 4.5:1, for white text on every button colour),
  a focus ring a keyboard user can see, and widgets that fit a phone's width.

Panel draws each widget inside its own shadow root, where a stylesheet in the page head does
not reach; :func:`apply_chrome` therefore hands the CSS to Panel's ``raw_css``, which Panel adds
to every component's shadow root, for the current session only.
"""

from __future__ import annotations

import panel as pn

VIEWPORT_META = '<meta name="viewport" content="width=device-width, initial-scale=1">'

# White text on these backgrounds: 7.9:1, 6.9:1, 7.4:1, 8.7:1 (Bokeh's own are 1.9:1-3.3:1).
BUTTON_COLORS = {"success": "#1b5e20", "warning": "#8a4b00", "danger": "#b00020", "primary": "#1f4e79"}
FOCUS_COLOR = "#1f4e79"
TEXT_COLOR = "#1a1a1a"

BASE_CSS = f"""
:host, .bk-root {{ color: {TEXT_COLOR}; }}
a {{ color: {FOCUS_COLOR}; }}
:focus-visible, .bk-btn:focus-visible, .bk-input:focus-visible, a:focus-visible {{
  outline: 3px solid {FOCUS_COLOR} !important; outline-offset: 2px;
}}
.bk-btn.bk-btn-light, :host(.solid) .bk-btn.bk-btn-light {{
  background-color: #fff; color: {FOCUS_COLOR}; border: 1px solid {FOCUS_COLOR}; }}
.bk-input, select.bk-input {{ max-width: 100%; }}
@media (max-width: 640px) {{
  .bk-input-group {{ max-width: 100%; }}
}}
""" + "".join(
    # :host(.solid) matches Panel's own button rule, which would otherwise win on specificity
    f".bk-btn.bk-btn-{kind}, :host(.solid) .bk-btn.bk-btn-{kind}, :host(.solid) .bk-btn.bk-btn-{kind}:hover "
    f"{{ background-color: {color}; border-color: {color}; color: #fff; }}\n"
    for kind, color in BUTTON_COLORS.items()
)

PAGE_TEMPLATE = "{% block postamble %}" + VIEWPORT_META + "{% endblock %}"


def apply_chrome() -> None:
    """Give the current session's page the viewport tag and the shared CSS (call while building a page)."""
    doc = pn.state.curdoc
    if doc is None:
        return  # no session (a page built in a test): Panel's config here is process-wide, so leave it alone
    doc.template = PAGE_TEMPLATE  # type: ignore[assignment]  # Bokeh takes a str too; Panel renders a string template as an extension of its base page
    if BASE_CSS not in pn.config.raw_css:
        pn.config.raw_css = [*pn.config.raw_css, BASE_CSS]
