"""The agent in a background thread (its own event loop) for browser tests and the benchmark,
and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from agent.dashboard.context import AgentContext
from agent.runtime import AgentSettings, run_agent

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 60_000  # for page waits: a bot's first tick follows its warm-up fit
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


class AgentThread:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ctx: AgentContext | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="agent", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._stop = asyncio.Event()

        def ready(ctx: AgentContext) -> None:
            self.ctx = ctx
            self._ready.set()

        try:
            self.loop.run_until_complete(run_agent(self.settings, stop=self._stop, on_ready=ready))
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self, timeout_s: float = 60) -> AgentContext:
        self._thread.start()
        if not self._ready.wait(timeout_s) or self.ctx is None:
            raise AssertionError(f"the agent did not start: {self._error!r}")
        return self.ctx

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        """Run a coroutine on the agent's loop (where its parts live) and wait for the result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@contextmanager
def chromium() -> Iterator[Browser]:
    playwright: Playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir(repo: Path) -> Path:
    folder = repo / "test-artifacts" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(page: Page, agent: AgentThread, slug: str) -> None:
    page.goto(f"{agent.base}/{slug}")
    page.locator(".hmm-nav").wait_for()


def fill(page: Page, css: str, value: str) -> None:
    field = page.locator(f"{css} input").first
    field.fill(value)
    field.press("Enter")  # Bokeh text inputs commit their value on change


@contextmanager
def replaying_agent(root: Path) -> Iterator[AgentThread]:
    """An agent on its own bus under ``root``, its bots replaying at 20 bars a second (the UX tests' agent)."""
    from events.embedded import NatsServer, free_port
    from tests.busauth import BUS_KEYS

    nats = NatsServer(root / "nats", keys=BUS_KEYS).start()
    settings = AgentSettings(
        home=root / "home",
        port=free_port(),
        nats_url=nats.url,
        sync_interval_s=3600,
        bot_env={"HMMTRADE_REPLAY_PACE": "20"},
        config_dir=root / "config",
    )
    thread = AgentThread(settings)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
        nats.stop()
