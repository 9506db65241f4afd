"""Hold a Panel page's server-to-browser updates, to click on what the browser still shows.

A race a busy machine produces now and then (the server has drawn a newer table than the one
the browser shows when the trader clicks) is made certain here: the page's Bokeh websocket is
routed through Playwright, and while held the server's messages are kept back, in order, and
delivered on release. The browser's own messages go through at once.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, WebSocketRoute

from tests.e2e.agentserver import TIMEOUT_MS


class HeldUpdates:
    """Route ``page``'s Bokeh websocket; :meth:`hold` and :meth:`release` the server's side."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._holding = False
        self._held: list[str | bytes] = []
        self._to_page: WebSocketRoute | None = None
        page.route_web_socket(re.compile(r"/ws(\?.*)?$"), self._route)

    def _route(self, socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        server.on_message(self._from_server)  # page -> server stays automatic
        self._to_page = socket

    def _from_server(self, message: str | bytes) -> None:
        if self._holding:
            self._held.append(message)
        elif self._to_page is not None:
            self._to_page.send(message)

    def hold(self) -> None:
        self._holding = True

    def wait_held(self, text: str) -> None:
        """Until a held message carries ``text`` (Playwright delivers messages while it waits)."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not any(text in (m if isinstance(m, str) else m.decode("utf-8", "replace")) for m in self._held):
            assert time.monotonic() < deadline, f"the server sent nothing with {text!r} while updates were held"
            self._page.wait_for_timeout(100)

    def release(self) -> None:
        held, self._held, self._holding = self._held, [], False
        assert self._to_page is not None
        for message in held:
            self._to_page.send(message)
