"""The dashboard's cloud side in a real browser (Debian's headless Chromium via Playwright),
against the real hosted stack: the API on a loopback port, the workers, the Fly Machines
emulator running the boot entrypoint and trader, the bus and Postgres.

A logged-in pro user deploys a hosted bot from the wizard and follows its live status and
audit on the Cloud page; the cloud's step validation and its plan limits show on the page.

One cloud, one agent and one browser serve the whole module. Screenshots land in test-artifacts/e2e/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.runtime import AgentSettings
from events.embedded import NatsServer, free_port
from tests.busauth import BUS_KEYS
from tests.conftest import set_tier, signup_and_login
from tests.e2e.agentserver import TIMEOUT_MS, AgentThread, artifacts_dir, fill, open_page
from tests.e2e.cloudserver import CloudThread
from tests.e2e.wizardwalk import next_step, walk_hosted_wizard

REPO = Path(__file__).resolve().parents[2]
SHOTS = artifacts_dir(REPO)
PASSWORD = "correct horse battery"  # signup_and_login's
BOOT_TIMEOUT_MS = 180_000  # a machine boots, fits its model and trades its first bar
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[CloudThread]:
    thread = CloudThread(tmp_path_factory.mktemp("cloud"), pg_dsn)
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, cloud: CloudThread) -> Iterator[AgentThread]:
    root = tmp_path_factory.mktemp("agent")
    nats = NatsServer(root / "nats", keys=BUS_KEYS).start()  # the laptop's own bus, apart from the cloud's
    settings = AgentSettings(
        home=root / "home",
        port=free_port(),
        nats_url=nats.url,
        sync_interval_s=1,  # the Cloud page shows what the last pass saw
        bot_env={"HMMTRADE_REPLAY_PACE": "20"},
        api_url=cloud.url,
        config_dir=root / "config",
    )
    thread = AgentThread(settings)
    thread.start()
    yield thread
    thread.stop()
    nats.stop()


def new_user(cloud: CloudThread, tier: str) -> tuple[str, dict[str, str]]:
    """A cloud account on ``tier``: its email (password ``PASSWORD``) and Authorization header."""
    assert cloud.cloud is not None
    api = cloud.cloud.api
    email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
    headers = cloud.call(signup_and_login(api, email))
    cloud.call(set_tier(api, headers, tier))
    return email, headers


def cloud_get(cloud: CloudThread, path: str, headers: dict[str, str]) -> Any:
    assert cloud.cloud is not None
    response = cloud.call(cloud.cloud.api.get(path, headers=headers))
    assert response.status_code == 200, response.text
    return response.json()


def log_in(page: Page, agent: AgentThread, email: str) -> None:
    """Log the agent in as ``email`` the way a user does: on the Cloud page."""
    open_page(page, agent, "cloud")
    fill(page, ".cloud-email", email)
    fill(page, ".cloud-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".cloud-state [data-sync]")).to_have_attribute("data-sync", "online")
    expect(page.locator(".cloud-state")).to_contain_text(f"as {email}")  # this login, not an earlier one


def test_a_pro_user_deploys_a_hosted_bot_from_the_wizard_and_watches_it_run_on_the_cloud_page(
    page: Page, agent: AgentThread, cloud: CloudThread
) -> None:
    email, headers = new_user(cloud, "pro")
    log_in(page, agent, email)
    open_page(page, agent, "wizard")
    walk_hosted_wizard(page, "Hosted browser bot")
    expect(page.locator(".wiz-deploy-hosted button")).to_be_enabled()
    page.screenshot(path=SHOTS / "wizard-hosted-review.png", full_page=True)
    page.get_by_role("button", name="Deploy hosted").click()
    created = page.locator(".wiz-created")
    expect(created).to_contain_text("Submitted Hosted browser bot to the cloud")
    bot_id = created.get_attribute("data-bot")
    assert bot_id
    page.screenshot(path=SHOTS / "wizard-hosted-submitted.png", full_page=True)

    [bot] = [b for b in cloud_get(cloud, "/api/v1/bots", headers)["bots"] if b["id"] == bot_id]
    assert bot["name"] == "Hosted browser bot" and bot["surface"] == "hosted"
    assert (bot["profile"]["model"]["n_states"], bot["profile"]["model"]["training_window"]) == (2, 150)
    assert bot["profile"]["schedule"]["run"] == "every_bar"

    open_page(page, agent, "cloud")
    row = page.locator(f'.cloud-bot[data-bot="{bot_id}"]')
    expect(row).to_contain_text("Hosted browser bot")
    expect(row).to_have_attribute("data-status", "running", timeout=BOOT_TIMEOUT_MS)
    expect(row.locator(".cloud-status")).to_have_text("running")

    page.locator(".cloud-audit-bot select").select_option(label=f"Hosted browser bot ({bot_id[:8]})")
    # the trail fills in on the open page as the machine trades: VM -> bus -> Postgres -> API -> page
    expect(page.locator('.cloud-audit-row[data-seq="1"]')).to_be_visible(timeout=BOOT_TIMEOUT_MS)
    expect(page.locator('.cloud-audit-row[data-seq="10"]')).to_be_visible()
    expect(page.locator(".cloud-audit-count")).to_contain_text("Records through seq")
    stored = cloud_get(cloud, f"/api/v1/bots/{bot_id}/audit?limit=10", headers)["records"]
    assert [r["seq"] for r in stored] == list(range(1, 11))
    decided = [r for r in stored if r["regime"] is not None]
    assert decided, stored  # past its warm-up the bot names a regime every bar
    for record in (stored[0], decided[-1]):
        row_seen = page.locator(f'.cloud-audit-row[data-seq="{record["seq"]}"]')
        expect(row_seen).to_have_attribute("data-regime", "" if record["regime"] is None else str(record["regime"]))
        expect(row_seen).to_contain_text(record["bar_at"][:10])
        expect(row_seen).to_contain_text(record["kind"])
    page.screenshot(path=SHOTS / "cloud-hosted.png", full_page=True)
    assert cloud.cloud is not None
    deleted = cloud.call(cloud.cloud.api.delete(f"/api/v1/bots/{bot_id}", headers=headers))
    assert deleted.status_code == 202, deleted.text


def test_the_wizard_shows_the_clouds_verdict_on_a_step_naming_the_field(
    page: Page, agent: AgentThread, cloud: CloudThread
) -> None:
    email, _headers = new_user(cloud, "pro")
    log_in(page, agent, email)
    open_page(page, agent, "wizard")
    fill(page, ".wiz-name", "bad<name>")
    page.get_by_role("button", name="Next").click()
    errors = page.locator(".wiz-errors")
    expect(errors.locator('[data-checked-by="cloud"]')).to_contain_text("Bot name: name may contain only letters")
    expect(errors).not_to_contain_text("Value error")
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")

    fill(page, ".wiz-name", "Checked bot")
    next_step(page, 2)
    next_step(page, 3)
    next_step(page, 4)
    fill(page, ".wiz-window", "10")
    page.get_by_role("button", name="Next").click()
    expect(errors.locator('[data-checked-by="cloud"]')).to_contain_text("Training window: at least 100")
    expect(page.locator(".wiz-title")).to_contain_text("Step 4 of 7")
    page.screenshot(path=SHOTS / "wizard-cloud-error.png", full_page=True)


def test_a_free_user_choosing_hosted_is_told_the_plan_runs_bots_locally_only(
    page: Page, agent: AgentThread, cloud: CloudThread
) -> None:
    email, _headers = new_user(cloud, "free")
    log_in(page, agent, email)
    open_page(page, agent, "wizard")
    fill(page, ".wiz-name", "Wishful bot")
    page.locator(".wiz-surface select").select_option("hosted")
    page.get_by_role("button", name="Next").click()
    errors = page.locator(".wiz-errors")
    expect(errors).to_contain_text("Runs on: your free plan runs bots on your own machine only")
    expect(errors).to_contain_text("pro or team plan")
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    page.screenshot(path=SHOTS / "wizard-free-hosted.png", full_page=True)


def test_a_plan_lost_mid_wizard_shows_the_clouds_refusal_on_deploy(
    page: Page, agent: AgentThread, cloud: CloudThread
) -> None:
    email, headers = new_user(cloud, "pro")
    log_in(page, agent, email)
    open_page(page, agent, "wizard")
    walk_hosted_wizard(page, "Late bot")
    assert cloud.cloud is not None
    cloud.call(set_tier(cloud.cloud.api, headers, "free"))  # the subscription ended while the user was typing
    page.get_by_role("button", name="Deploy hosted").click()
    errors = page.locator(".wiz-errors")
    expect(errors).to_contain_text("the cloud refused the bot: The free plan runs bots on your own machine only")
    expect(page.locator(".wiz-created")).to_have_count(0)
    assert cloud_get(cloud, "/api/v1/bots", headers)["bots"] == []
    page.screenshot(path=SHOTS / "wizard-hosted-refused.png", full_page=True)
