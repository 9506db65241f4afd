"""What every page may use, built once by :func:`web.server.make_web_server`'s caller."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from web.incidents import IncidentBoard
from web.live import LiveHub
from web.sessions import SessionStore
from web.settings import WebSettings
from web.status import StatusWatch


@dataclass(frozen=True)
class WebContext:
    settings: WebSettings
    sessions: SessionStore
    hub: LiveHub
    http: httpx.AsyncClient  # base_url is the API
    status: StatusWatch
    incidents: IncidentBoard = field(default_factory=IncidentBoard)  # fetched on demand: nothing to start
