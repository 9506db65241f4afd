"""Incidents in plain words: the status page's history, the banner, and how long things lasted.

Times come from the API as ISO 8601 text and are shown in UTC with ``ui.format``'s labels; an
incident's updates are listed newest first (the API sends them oldest first).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from ui.format import MISSING, datetime_label
from web.api import when
from web.status import COMPONENT_NAMES

STATE_WORDS = {
    "investigating": "Investigating",
    "identified": "Cause identified",
    "monitoring": "Fix in place, monitoring",
    "resolved": "Resolved",
}
IMPACT_WORDS = {"down": "Outage", "degraded": "Degraded service"}

INCIDENT_CSS = """
.incident { border: 1px solid #d0d7de; border-left: 5px solid #b3261e; border-radius: 6px; padding: 8px 12px;
  margin: 0 0 12px; overflow-wrap: anywhere; }
.incident.closed { border-left-color: #6e7781; }
.incident h3 { font-size: 16px; margin: 0 0 4px; }
.incident .meta { color: #333; margin: 0 0 6px; font-size: 14px; }
.incident ol.updates { list-style: none; margin: 0; padding: 0; font-size: 14px; }
.incident ol.updates li { border-top: 1px solid #eaeef2; padding: 4px 0; }
.incident .state { font-weight: 600; }
.incident .at { color: #444; white-space: nowrap; }
.incident-banner { background: #fff4e5; border: 1px solid #b35c00; border-radius: 6px; padding: 8px 12px;
  color: #3d2400; overflow-wrap: anywhere; }
.incident-banner p { margin: 2px 0; }
.incident-banner a { color: #0b4f8a; font-weight: 600; }
"""


def duration_words(seconds: float) -> str:
    """``45 min``, ``2 h 5 min``, ``3 d 4 h``; under a minute is ``<1 min``."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "<1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _component(incident: dict[str, Any]) -> str:
    name = str(incident.get("component"))
    return COMPONENT_NAMES.get(name, name)


def _updates_newest_first(incident: dict[str, Any]) -> list[dict[str, Any]]:
    updates = [u for u in incident.get("updates") or [] if isinstance(u, dict)]
    return updates[::-1]  # the API sends them oldest first


def _message(update: dict[str, Any]) -> str:
    """The update's text, without a leading repeat of its state ("Resolved: Resolved: …" reads badly)."""
    text = str(update.get("message") or "")
    state = str(update.get("state") or "")
    if state and text.lower().startswith(f"{state}:"):
        text = text[len(state) + 1 :].lstrip()
        text = text[:1].upper() + text[1:]
    return html.escape(text)


def _updates_html(incident: dict[str, Any]) -> str:
    items = []
    for update in _updates_newest_first(incident):
        state = str(update.get("state"))
        items.append(
            f'<li data-state="{html.escape(state)}"><span class="at">{datetime_label(when(update.get("at")))}</span>'
            f' · <span class="state">{html.escape(STATE_WORDS.get(state, state))}</span>: '
            f"{_message(update)}</li>"
        )
    return f'<ol class="updates">{"".join(items)}</ol>' if items else ""


def incident_html(incident: dict[str, Any], now: datetime) -> str:
    """One incident: what failed, how badly, when and for how long, and its updates."""
    started, ended = when(incident.get("started_at")), when(incident.get("ended_at"))
    impact = IMPACT_WORDS.get(str(incident.get("impact")), str(incident.get("impact")))
    if ended is None:
        lasted = f" for {duration_words((now - started).total_seconds())}" if started else ""
        meta = f"{html.escape(impact)} · since {datetime_label(started)} · ongoing{lasted}"
    else:
        lasted = duration_words((ended - started).total_seconds()) if started else MISSING
        meta = f"{html.escape(impact)} · {datetime_label(started)} to {datetime_label(ended)} · lasted {lasted}"
    state = "closed" if ended is not None else "open"
    return (
        f'<article class="incident {state}" data-incident="{html.escape(str(incident.get("id")))}" '
        f'data-component="{html.escape(str(incident.get("component")))}">'
        f"<h3>{html.escape(_component(incident))}: {html.escape(str(incident.get('title') or ''))}</h3>"
        f'<p class="meta">{meta}</p>{_updates_html(incident)}</article>'
    )


def history_html(incidents: list[dict[str, Any]] | None, *, failed: bool, now: datetime | None = None) -> str:
    """The status page's incident sections: open ones, then the past 90 days'."""
    now = now or datetime.now(UTC)
    if incidents is None:
        words = "The incident history cannot be loaded now; this page retries by itself." if failed else "Loading…"
        return f'<p class="empty incidents-loading">{words}</p>'
    open_ones = [i for i in incidents if i.get("ended_at") is None]
    closed = [i for i in incidents if i.get("ended_at") is not None]
    parts = []
    if open_ones:
        parts.append('<section class="incidents-open"><h2>Ongoing incidents</h2>')
        parts += [incident_html(i, now) for i in open_ones]
        parts.append("</section>")
    parts.append('<section class="incidents-past"><h2>Past incidents (last 90 days)</h2>')
    if closed:
        parts += [incident_html(i, now) for i in closed]
    else:
        parts.append('<p class="empty incidents-none">No incidents in the last 90 days.</p>')
    parts.append("</section>")
    return "".join(parts)


def banner_html(incidents: list[dict[str, Any]] | None, now: datetime | None = None) -> str:
    """The incident banner: each open incident affecting the user, its latest update, a link to /status.

    Always one element carrying ``data-incidents`` (how many are shown; absent before the first
    answer), so a page can tell "none affect you" from "not asked yet"."""
    now = now or datetime.now(UTC)
    if not incidents:
        count = "" if incidents is None else ' data-incidents="0"'
        return f'<div class="incident-banner-none"{count}></div>'
    lines = []
    for incident in incidents:
        started = when(incident.get("started_at"))
        since = f"since {datetime_label(started)}" if started else ""
        latest = _updates_newest_first(incident)[:1]
        update = (
            f" Latest update ({datetime_label(when(latest[0].get('at')))}) · "
            f"<i>{html.escape(STATE_WORDS.get(str(latest[0].get('state')), ''))}</i>: "
            f"{_message(latest[0])}"
            if latest
            else ""
        )
        title = html.escape(str(incident.get("title") or ""))
        lines.append(
            f'<p class="incident-line" data-incident="{html.escape(str(incident.get("id")))}"><b>Incident: '
            f"{title}</b> ({html.escape(_component(incident))}, {since}).{update}</p>"
        )
    return (
        f'<div class="incident-banner" role="status" data-incidents="{len(incidents)}">{"".join(lines)}'
        '<p><a href="/status">Details and history on the status page</a></p></div>'
    )
