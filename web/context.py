"""What every page may use, built once by :func:`web.server.make_web_server`'s caller."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

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
