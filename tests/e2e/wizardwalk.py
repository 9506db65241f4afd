"""Walking the shared wizard (ui/wizard.py) in a browser, as both the agent's and the web app's tests do."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.agentserver import fill


def next_step(page: Page, step: int) -> None:
    # Enter on the focused button, not a click at its coordinates: the form above it is laid out
    # again after each step and moves the button, so a click could land where it no longer is
    page.get_by_role("button", name="Next").press("Enter")
    expect(page.locator(".wiz-title")).to_contain_text(f"Step {step} of 7")


def walk_hosted_wizard(page: Page, name: str) -> None:
    """Steps 1-6 for a small hosted paper bot that trades every bar (it stays running), then confirm."""
    fill(page, ".wiz-name", name)
    page.locator(".wiz-surface select").select_option("hosted")
    next_step(page, 2)
    next_step(page, 3)
    next_step(page, 4)
    fill(page, ".wiz-states", "2")
    fill(page, ".wiz-window", "150")
    next_step(page, 5)
    fill(page, ".wiz-exposure", "0.2, 1")
    fill(page, ".wiz-drawdown", "50")
    fill(page, ".wiz-daily-loss", "10")
    next_step(page, 6)
    page.locator(".wiz-run select").select_option("every_bar")
    next_step(page, 7)
    page.locator(".wiz-confirm input").check()
