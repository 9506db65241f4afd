"""Refuse requests whose ``Host`` is not the dashboard's own: the DNS-rebinding defence.

A page on ``evil.example`` can re-point its own name at 127.0.0.1 after loading; the browser
then treats the dashboard as same-origin with that page and lets it read every answer. What
the browser cannot change is the ``Host`` header: it still says ``evil.example:PORT``. So the
dashboard answers only ``127.0.0.1:PORT``, ``localhost:PORT`` and its configured bind address.

Bokeh checks the ``Origin`` of its websocket (``websocket_origin``) but not the ``Host`` of plain
HTTP requests, and neither Bokeh nor Panel has a setting for it. The check is therefore a
Tornado routing rule placed before all of Bokeh's: a refused request never reaches a Bokeh
handler, so no session is created and no page is built for it.
"""

from __future__ import annotations

from typing import Any

from tornado import httputil
from tornado.routing import Matcher, Rule
from tornado.web import RequestHandler


def allowed_hosts(address: str, port: int) -> frozenset[str]:
    """The ``Host`` values (lower case, with the port) a browser sends for this dashboard."""
    names = {"127.0.0.1", "localhost", address.lower()}
    return frozenset(f"[{name}]:{port}" if ":" in name else f"{name}:{port}" for name in names)


class _UnexpectedHost(Matcher):
    """Matches requests whose ``Host`` is not one of ``allowed`` (compared case-insensitively)."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        return None if request.host.lower() in self.allowed else {}


class _RefuseHost(RequestHandler):
    """403 with a fixed plain-text body: the Host is not echoed, so nothing of it is rendered."""

    def prepare(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(
            "Unexpected Host header: open the dashboard at http://127.0.0.1:<port>/ or http://localhost:<port>/\n"
        )


def refuse_unexpected_hosts(server: Any, *, address: str) -> None:
    """Make the Bokeh ``server`` (from ``pn.serve(..., start=False)``) answer 403 to any other Host.

    Bokeh keeps its Tornado application in ``server._tornado`` (there is no public accessor);
    tests/security/test_dashboard_host.py fails if that ever changes.
    """
    application = server._tornado
    matcher = _UnexpectedHost(allowed_hosts(address, int(server.port)))  # the bound port, also when 0 was asked
    application.default_router.rules.insert(0, Rule(matcher, _RefuseHost))
