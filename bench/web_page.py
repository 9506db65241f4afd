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

PAGE_TIMEOUT_MS = 120_000  # 50 pages load Bokeh on two shared cores

OBSERVER = """(() => {
  const seen = {};
  window.__tickSeen = seen;
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
        await page.goto(f"{web_url}/login?next={target}")
        await page.fill("#email", email)
        await page.fill("#password", password)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(re.compile(re.escape(target) + "$"))
        await page.locator("#last-tick").wait_for()
        return session

    async def shows(self, seq: int) -> None:
        """Wait until this page shows tick ``seq`` (the page is watching its bot)."""
        await self.page.locator(f'#last-tick[data-seq="{seq}"]').wait_for()

    async def seen(self) -> dict[int, float]:
        """{tick seq: page time in ms since the epoch} for every seq the page showed."""
        raw: dict[str, Any] = await self.page.evaluate("() => window.__tickSeen")
        return {int(seq): float(ms) for seq, ms in raw.items()}

    async def close(self) -> None:
        await self.context.close()
