"""One logged-in browser session on a bot's page, and the in-page clock that says when each tick showed.

Bokeh renders every pane inside a shadow root, and the bot page's "now" line (``#last-tick
data-seq=…``) is re-rendered as new HTML on each tick. So the page gets, before any of its own
scripts run, a wrapper around ``attachShadow`` that puts a MutationObserver on every shadow root
as it is made (and one on the document): the first time any ``#last-tick`` carries a new
``data-seq``, the page notes ``Date.now()`` for it. That is the moment the DOM shows the tick, in
the page's own event loop, without Playwright round trips (polling from Python would add its own
delay and CPU, and see only the newest tick of a burst).
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

PAGE_TIMEOUT_MS = 120_000  # 50 pages load Bokeh on two shared cores

OBSERVER = r"""(() => {
  const seen = {};
  const arrived = {};
  window.__tickSeen = seen;
  window.__tickArrived = arrived;
  const note = (root) => {
    const el = root.querySelector('#last-tick');
    if (el === null) return;
    const seq = el.getAttribute('data-seq');
    if (seq !== null && seq !== '0' && !(seq in seen)) seen[seq] = Date.now();
  };
  const watch = (root) => {
    new MutationObserver(() => note(root)).observe(root, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-seq'],
    });
    note(root);
  };
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    watch(root);
    return root;
  };
  if (document.documentElement) watch(document.documentElement);
  else document.addEventListener('DOMContentLoaded', () => watch(document.documentElement));
  // When the page's JavaScript gets the websocket message carrying a tick's new line: listeners
  // added here run before Bokeh's onmessage, so this splits server + wire from the page's drawing.
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (typeof event.data !== 'string') return;
        const now = Date.now();
        for (const m of event.data.matchAll(/data-seq=(?:\\*"|&quot;|&#34;)(\d+)/g)) {
          if (m[1] !== '0' && !(m[1] in arrived)) arrived[m[1]] = now;
        }
      });
    }
  };
})();"""


class BotSession:
    """A browser context logged in as one user, showing that user's bot."""

    def __init__(self, context: BrowserContext, page: Page, bot_id: str) -> None:
        self.context, self.page, self.bot_id = context, page, bot_id
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    @classmethod
    async def open(cls, browser: Browser, web_url: str, email: str, password: str, bot_id: str) -> BotSession:
        """Log in through the form (cookie, XSRF and all) and land on ``/bots/<bot_id>``."""
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.add_init_script(OBSERVER)
        page = await context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        session = cls(context, page, bot_id)
        target = f"/bots/{bot_id}"
        try:
            await page.goto(f"{web_url}/login?next={target}")
            await page.fill("#email", email)
            await page.fill("#password", password)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(re.compile(re.escape(target) + "$"), wait_until="commit")
            await page.locator("#last-tick").wait_for()
        except PlaywrightError as exc:
            text = await page.locator("body").inner_text(timeout=5_000)
            raise RuntimeError(
                f"session for {email} stuck at {page.url}: {exc.message}; page says {text[:300]!r}"
            ) from exc
        return session

    async def shows(self, seq: int, timeout_ms: float) -> bool:
        """Whether this page shows tick ``seq`` (or a later one) within ``timeout_ms``."""
        try:
            await self.page.wait_for_function(
                "seq => Object.keys(window.__tickSeen).some(s => Number(s) >= seq)", arg=seq, timeout=timeout_ms
            )
        except PlaywrightTimeoutError:
            return False
        return True

    async def seen(self) -> tuple[dict[int, float], dict[int, float]]:
        """({seq: when the page showed it}, {seq: when its websocket message reached the page's
        JavaScript}), in ms since the epoch."""
        shown, arrived = await self.page.evaluate("() => [window.__tickSeen, window.__tickArrived]")
        return _by_seq(shown), _by_seq(arrived)

    async def close(self) -> None:
        await self.context.close()


def _by_seq(raw: dict[str, Any]) -> dict[int, float]:
    return {int(seq): float(ms) for seq, ms in raw.items()}
