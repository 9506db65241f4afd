"""The cloud web app in a real browser (Debian's headless Chromium via Playwright) against the real
stack: the API on a loopback port, the workers, the bus, Postgres, and the KMS, Fly Machines
and Stripe emulators; hosted bots boot on the Fly emulator as real processes.

One stack and one browser serve the module; each test signs up its own users. Screenshots land
in test-artifacts/e2e/ (three are shown in the README).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id, get_token_payload
from playwright.sync_api import Browser, Page, WebSocket, expect
from tornado.websocket import websocket_connect

from contracts.events import AuditRecord
from store import audit
from store.pool import create_pool
from tests.conftest import VALID_PROFILE, set_tier, signup_and_login, wait_for
from tests.e2e.agentserver import TIMEOUT_MS, artifacts_dir, fill
from tests.e2e.conftest import _host as request_host
from tests.e2e.webstack import WebCloud
from tests.e2e.wizardwalk import next_step, walk_hosted_wizard

REPO = Path(__file__).resolve().parents[2]
SHOTS = artifacts_dir(REPO)
PASSWORD = "correct horse battery"
BOOT_TIMEOUT_MS = 180_000  # a machine boots, fits its model and trades its first bar
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[WebCloud]:
    stack = WebCloud(tmp_path_factory.mktemp("web"), pg_dsn)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def page(browser: Browser, web: WebCloud) -> Iterator[Page]:
    """A fresh browser profile per test; fails the test if a page fetched from anywhere but loopback."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    hosts: set[str] = set()
    errors: list[str] = []
    tab.on("request", lambda request: hosts.add(request_host(request.url)))
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert hosts <= {"127.0.0.1"}, f"the pages fetched from elsewhere: {hosts}"
    assert errors == [], errors


def new_email() -> str:
    return f"web-{uuid.uuid4().hex[:10]}@example.com"


def sign_up(page: Page, web: WebCloud, email: str) -> None:
    page.goto(f"{web.web_url}/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r".*/bots\?welcome=1$"))


def log_in(page: Page, web: WebCloud, email: str, then: str = "/bots") -> None:
    page.goto(f"{web.web_url}/login?next={then}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{web.web_url}{then}")


def api_user(web: WebCloud, email: str | None = None) -> dict[str, str]:
    assert web.cloud is not None
    return web.call(signup_and_login(web.cloud.api, email))


def api(web: WebCloud, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    assert web.cloud is not None
    response = web.call(web.cloud.api.request(method, path, headers=headers, **kwargs))
    assert response.status_code < 300, response.text
    return response.json()


def hosted_profile(name: str) -> dict[str, Any]:
    return {
        **VALID_PROFILE,
        "basics": {"name": name, "surface": "hosted", "mode": "paper"},
        "model": {"n_states": 2, "features": ["log_return", "realized_vol"], "training_window": 150},
        "strategy": {"exposure_per_regime": [0.2, 1.0], "max_drawdown_pct": 50, "max_daily_loss_pct": 10},
        "schedule": {"run": "every_bar", "confirmed": True},
    }


def set_tier_now(web: WebCloud, headers: dict[str, str], tier: str) -> None:
    assert web.cloud is not None
    web.call(set_tier(web.cloud.api, headers, tier))


# ---- the public pages and the session ---------------------------------------------------------


def test_public_pages_render_from_loopback_with_prices_from_the_plans(page: Page, web: WebCloud) -> None:
    page.goto(web.web_url)
    expect(page.get_by_text("Trade with the market's regime")).to_be_visible()
    viewport = page.locator('meta[name="viewport"]')
    expect(viewport).to_have_attribute("content", "width=device-width, initial-scale=1")
    page.screenshot(path=SHOTS / "web-landing.png", full_page=True)
    page.get_by_role("link", name="Pricing").first.click()
    page.wait_for_url(f"{web.web_url}/pricing")
    pro = page.locator('tr[data-plan="pro"]')
    expect(pro).to_contain_text("$29 / month")
    expect(pro).to_contain_text("3 hosted bots")
    expect(page.locator('tr[data-plan="free"]')).to_contain_text("on your computer only")
    page.screenshot(path=SHOTS / "web-pricing.png", full_page=True)
    page.goto(f"{web.web_url}/status")
    for component in ("api", "bus", "database", "fly", "kms", "stripe"):
        expect(page.locator(f'tr[data-component="{component}"]')).to_have_attribute("data-status", "ok")
    page.screenshot(path=SHOTS / "web-status.png", full_page=True)


def test_the_session_cookie_is_httponly_samesite_and_logout_ends_it(page: Page, web: WebCloud) -> None:
    email = new_email()
    sign_up(page, web, email)
    expect(page.locator(".bots-empty")).to_contain_text("No bots yet")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "hmm_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http on loopback
    assert page.evaluate("document.cookie").find("hmm_session") == -1  # page scripts cannot read it
    assert web.web is not None and web.web.sessions.get(cookie["value"]) is not None

    page.goto(f"{web.web_url}/logout")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{web.web_url}/")
    assert web.web.sessions.get(cookie["value"]) is None  # ended on the server, not just forgotten
    page.context.add_cookies([{**cookie}])  # a copy of the old cookie opens nothing
    page.goto(f"{web.web_url}/bots")
    expect(page.locator(".login-needed")).to_contain_text("Log in to see this page")


def test_a_form_posted_without_the_xsrf_token_is_refused(page: Page, web: WebCloud) -> None:
    email = new_email()
    api_user(web, email)
    response = page.request.post(
        f"{web.web_url}/login", form={"email": email, "password": PASSWORD}, max_redirects=0
    )  # what another site's form would send: no _xsrf cookie or field
    assert response.status == 403
    assert not [c for c in page.context.cookies() if c["name"] == "hmm_session"]


def test_bad_input_in_the_account_forms_is_named_at_the_field(page: Page, web: WebCloud) -> None:
    page.goto(f"{web.web_url}/signup")
    page.fill("#email", "not-an-email")
    page.fill("#password", "short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#email-error")).to_contain_text("Email:")
    expect(page.locator("#password-error")).to_contain_text("Password:")
    expect(page.locator("#email")).to_have_value("not-an-email")  # what was typed is kept, the password is not
    page.screenshot(path=SHOTS / "web-signup-errors.png", full_page=True)

    email = new_email()
    api_user(web, email)
    page.goto(f"{web.web_url}/login")
    page.fill("#email", email)
    page.fill("#password", "wrong password!")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#password-error")).to_have_text("Wrong email or password.")

    page.goto(f"{web.web_url}/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".form-error")).to_contain_text("already exists")

    log_in(page, web, email, then="/brokers")
    page.locator(".bk-label input").fill("")
    page.locator(".bk-key-id input").fill("")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator(".err-label")).to_contain_text("Label:")
    expect(page.locator(".err-api_key_id")).to_contain_text("API key ID:")


# ---- isolation ------------------------------------------------------------------------------------


def test_another_users_bot_is_a_404_and_none_of_it_reaches_the_browser(page: Page, web: WebCloud) -> None:
    owner = api_user(web)
    set_tier_now(web, owner, "pro")
    secret_name = f"Owner only {uuid.uuid4().hex[:6]}"
    created = api(web, "POST", "/api/v1/bots", owner, json=hosted_profile(secret_name))
    bot_id = created["bot_id"]

    frames: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else ""))

    page.on("websocket", on_socket)
    intruder = new_email()
    sign_up(page, web, intruder)
    page.goto(f"{web.web_url}/bots/{bot_id}")
    expect(page.locator(".not-found")).to_contain_text("404")
    page.goto(f"{web.web_url}/bots")
    expect(page.locator(".bots-empty")).to_be_visible()
    # the owner's bot runs and ticks meanwhile; none of its id, name or numbers reach the intruder
    api_wait_running(web, owner, bot_id)
    page.goto(f"{web.web_url}/bots/{bot_id}")
    expect(page.locator(".not-found")).to_be_visible()
    page.wait_for_timeout(0)
    assert frames, "the pages talked over their websocket"
    # the page's own address (which the browser typed) is echoed back in its location model; beyond
    # that, neither the owner's bot id nor its name may appear in anything the server sent
    leaks = [f for f in frames if bot_id in f.replace(f"/bots/{bot_id}", "/bots/ID") or secret_name in f]
    assert not leaks, [f[max(0, f.find(bot_id) - 300) : f.find(bot_id) + 100] for f in leaks][:3]
    page.screenshot(path=SHOTS / "web-not-yours.png", full_page=True)
    api(web, "DELETE", f"/api/v1/bots/{bot_id}", owner)


def test_a_forged_page_token_is_refused_and_a_copied_one_opens_only_its_own_page(page: Page, web: WebCloud) -> None:
    email = new_email()
    sign_up(page, web, email)
    html = page.content()
    match = re.search(r'"token":"([^"]+)"', html) or re.search(r"token[\"']?\s*:\s*[\"']([A-Za-z0-9._-]+)", html)
    assert match, "the page carries its connection token"
    token = match.group(1)
    payload = get_token_payload(token)
    assert "hmm_session" not in str(payload)  # the cookie never rides in the page
    assert "web_ticket" in payload  # ...only a one-time ticket, already redeemed

    # a token made without the server's secret, for a session the server never handed out
    forged = generate_jwt_token(generate_session_id(), secret_key=None, signed=False, extra_payload=payload)
    ws_url = web.web_url.replace("http", "ws") + "/bots/ws"
    assert not web.call(_websocket_opens(ws_url, forged, web.web_url))
    assert web.call(_websocket_opens(ws_url, token, web.web_url))  # the real one still works for its page


async def _websocket_opens(url: str, token: str, origin: str) -> bool:
    from tornado.httpclient import HTTPRequest

    request = HTTPRequest(url, headers={"Origin": origin})
    try:
        connection = await websocket_connect(request, subprotocols=["bokeh", token])
    except Exception:
        return False
    message = await asyncio.wait_for(connection.read_message(), 10)
    connection.close()
    return message is not None


def api_wait_running(web: WebCloud, headers: dict[str, str], bot_id: str) -> None:
    assert web.cloud is not None

    async def running() -> bool:
        response = await web.cloud.api.get(f"/api/v1/bots/{bot_id}/audit?limit=2", headers=headers)  # type: ignore[union-attr]
        return response.status_code == 200 and len(response.json()["records"]) >= 2

    web.call(wait_for(running, timeout_s=BOOT_TIMEOUT_MS / 1000, what="the bot to trade"), BOOT_TIMEOUT_MS / 1000 + 5)


def test_a_killed_hosted_bot_is_rearmed_from_its_page_after_a_confirmation_naming_it(
    page: Page, web: WebCloud, pg_dsn: str
) -> None:
    email = new_email()
    headers = api_user(web, email)
    set_tier_now(web, headers, "pro")
    created = api(web, "POST", "/api/v1/bots", headers, json=hosted_profile("Killed bot"))
    bot_id = created["bot_id"]
    web.call(wait_for(lambda: _intent_done(web, headers, created["intent_id"]), what="the bot created"))
    # as audit ingest stores what the bot published; a seq beyond any the booting machine will reach this
    # test, so the page's newest record stays this one
    web.call(_record_killed(pg_dsn, uuid.UUID(bot_id)))

    log_in(page, web, email, then=f"/bots/{bot_id}")
    page.locator(".bot-rearm button").click()
    expect(page.locator(".bot-rearm-confirm")).to_contain_text("Re-arm Killed bot?")
    page.locator(".bot-rearm-yes button").click()
    expect(page.locator(".bot-rearm-message")).to_contain_text("Re-arm requested: Killed bot trades again")
    expect(page.locator(".bot-rearm-confirm")).to_be_hidden()
    page.screenshot(path=SHOTS / "web-rearm.png", full_page=True)
    api(web, "DELETE", f"/api/v1/bots/{bot_id}", headers)


async def _intent_done(web: WebCloud, headers: dict[str, str], intent_id: str) -> bool:
    assert web.cloud is not None
    response = await web.cloud.api.get(f"/api/v1/intents/{intent_id}", headers=headers)
    return response.status_code == 200 and response.json()["status"] == "done"


async def _record_killed(pg_dsn: str, bot_id: uuid.UUID) -> None:
    detail = {"risk": {"status": "killed", "approved": 0.0, "reasons": ["drawdown halt: flat until re-armed"]}}
    seq = 1_000_000
    record = AuditRecord(
        id=f"{bot_id}:{seq}", bot_id=bot_id, seq=seq, bar_at=datetime(2018, 12, 31, tzinfo=UTC), detail=detail
    )
    pool = await create_pool(pg_dsn, max_size=1)
    try:
        await audit.insert_batch(pool, [record])
    finally:
        await pool.close()


# ---- outages ------------------------------------------------------------------------------------------


def test_with_the_api_down_pages_say_so_and_recover_without_a_reload(page: Page, web: WebCloud) -> None:
    email = new_email()
    sign_up(page, web, email)
    expect(page.locator(".bots-empty")).to_be_visible()
    assert web.api_cut is not None
    web.loop.call_soon_threadsafe(web.api_cut.sever)
    try:
        expect(page.locator(".web-banner")).to_contain_text("API is down")
        expect(page.locator(".bots-message")).to_contain_text("not answering")
        page.screenshot(path=SHOTS / "web-api-down.png", full_page=True)
    finally:
        web.loop.call_soon_threadsafe(web.api_cut.restore)
    expect(page.locator(".web-banner")).to_be_hidden()
    expect(page.locator(".bots-message")).not_to_contain_text("not answering")
    expect(page.locator(".bots-empty")).to_be_visible()


def test_with_the_bus_down_a_bot_page_says_reconnecting_and_resumes(page: Page, web: WebCloud) -> None:
    email = new_email()
    headers = api_user(web, email)
    set_tier_now(web, headers, "pro")
    bot_id = api(web, "POST", "/api/v1/bots", headers, json=hosted_profile("Bus test bot"))["bot_id"]
    api_wait_running(web, headers, bot_id)
    log_in(page, web, email, then=f"/bots/{bot_id}")
    expect(page.locator(".bot-name")).to_contain_text("Bus test bot")
    web.stop_bus()
    try:
        expect(page.locator(".reconnecting")).to_contain_text("reconnecting")
        expect(page.locator(".web-banner")).to_contain_text("Message bus is down")
    finally:
        web.start_bus()
    expect(page.locator(".live-state")).to_contain_text("resumed", timeout=BOOT_TIMEOUT_MS)
    api(web, "DELETE", f"/api/v1/bots/{bot_id}", headers)


def test_pages_fit_a_phone_screen(browser: Browser, web: WebCloud) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.set_default_timeout(TIMEOUT_MS)
    try:
        for path in ("/signup", "/", "/pricing", "/status"):
            phone.goto(f"{web.web_url}{path}")
            phone.locator(".web-nav, form").first.wait_for()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
        sign_up(phone, web, new_email())
        for path, loaded in (("/bots", ".bots-empty"), ("/brokers", ".brokers-empty"), ("/billing", ".plan-now")):
            phone.goto(f"{web.web_url}{path}")
            phone.locator(loaded).wait_for()  # measured once the page has its content
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
        phone.screenshot(path=SHOTS / "web-billing-phone.png", full_page=True)
    finally:
        context.close()


# ---- the newcomer's journey -------------------------------------------------------------------------


def test_a_newcomer_signs_up_pays_connects_a_broker_runs_a_hosted_bot_and_cancels(page: Page, web: WebCloud) -> None:
    page.goto(web.web_url)
    page.get_by_role("link", name="Pricing").first.click()
    expect(page.locator('tr[data-plan="pro"]')).to_contain_text("$29 / month")
    page.get_by_role("link", name="Sign up").click()
    email = new_email()
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".bots-empty")).to_contain_text("Create your first bot")
    expect(page.locator(".plan-usage")).to_contain_text("Free")
    page.screenshot(path=SHOTS / "web-bots-empty.png", full_page=True)

    # upgrade: Stripe Checkout (the emulator's page), then back with the plan shown at once
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(re.compile(r".*/checkout/.*"))
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r".*/billing\?checkout=success.*"))
    expect(page.locator(".plan-active")).to_contain_text("you are on Pro now")
    expect(page.locator(".billing-plan")).to_contain_text("0 of 3 hosted bots")
    page.screenshot(path=SHOTS / "web-billing.png", full_page=True)

    # a broker: secrets typed once, never shown again
    page.get_by_role("link", name="Brokers").click()
    expect(page.locator(".brokers-empty")).to_be_visible()
    page.locator(".bk-label input").fill("My Alpaca paper")
    page.locator(".bk-key-id input").fill("PKTESTKEY123456")
    page.locator(".bk-secret input").fill("secret-never-shown-again")
    page.get_by_role("button", name="Connect").click()
    row = page.locator("table.connections tr", has_text="My Alpaca paper")
    expect(row).to_contain_text("paper")
    expect(page.locator(".bk-secret input")).to_have_value("")
    assert "secret-never-shown-again" not in page.content()
    page.screenshot(path=SHOTS / "web-brokers.png", full_page=True)

    # a hosted bot from the wizard; it boots and trades on its page without a reload
    page.get_by_role("link", name="New bot").click()
    walk_hosted_wizard(page, "My first hosted bot")
    page.get_by_role("button", name="Create bot").click()
    created = page.locator(".wiz-created")
    expect(created).to_contain_text("My first hosted bot")
    bot_id = created.get_attribute("data-bot")
    assert bot_id
    created.get_by_role("link", name="watch it").click()
    page.wait_for_url(f"{web.web_url}/bots/{bot_id}")
    expect(page.locator(".bot-state")).to_have_attribute("data-status", "running", timeout=BOOT_TIMEOUT_MS)
    expect(page.locator("#last-tick")).not_to_have_attribute("data-seq", "0", timeout=BOOT_TIMEOUT_MS)
    first = int(page.locator("#last-tick").get_attribute("data-seq") or 0)
    expect(page.locator("#last-tick")).not_to_have_attribute("data-seq", str(first))  # it moves on by itself
    for _ in range(120):  # a few dozen bars drawn, for the screenshot
        if int(page.locator("#last-tick").get_attribute("data-seq") or 0) >= first + 30:
            break
        page.wait_for_timeout(500)
    page.screenshot(path=SHOTS / "web-bot.png", full_page=True)
    page.locator(".bk-tab", has_text="Audit").click()
    expect(page.locator(".audit-count span")).not_to_have_attribute("data-count", "0")
    page.locator(".bk-tab", has_text="Machine log").click()
    expect(page.locator(".bot-log")).not_to_contain_text("No log lines yet")
    page.screenshot(path=SHOTS / "web-bot-log.png", full_page=True)

    # stop it from the list
    page.get_by_role("link", name="Bots").click()
    bot_row = page.locator(f'.bot-row[data-bot="{bot_id}"]')
    expect(bot_row).to_have_attribute("data-status", "running")
    page.locator(".bot-stop button").first.click()
    expect(bot_row).to_have_attribute("data-status", "stopped", timeout=BOOT_TIMEOUT_MS)
    page.locator(".bot-start button").first.click()  # and start it again: cancel must stop it
    expect(bot_row).to_have_attribute("data-status", "running", timeout=BOOT_TIMEOUT_MS)

    # cancel in the customer portal: hosted bots stop, with the reason shown
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("button", name="Manage subscription (Stripe portal)").click()
    page.wait_for_url(re.compile(r".*/portal/.*"))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r".*/billing$"))
    expect(page.locator(".plan-canceled")).to_be_visible()
    page.get_by_role("link", name="Bots").click()
    expect(bot_row).to_have_attribute("data-status", "stopped", timeout=BOOT_TIMEOUT_MS)
    expect(bot_row.locator(".reason")).to_contain_text("cancel")
    page.screenshot(path=SHOTS / "web-bots-canceled.png", full_page=True)


def test_the_wizard_names_bad_fields_keeps_values_on_back_and_a_double_click_creates_one_bot(
    page: Page, web: WebCloud
) -> None:
    email = new_email()
    headers = api_user(web, email)
    log_in(page, web, email, then="/bots/new")
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    fill(page, ".wiz-name", "Twice clicked")
    page.locator(".wiz-surface select").select_option("hosted")
    page.get_by_role("button", name="Next").click()  # a free plan: the API's plan check refuses at step 1
    expect(page.locator(".wiz-errors")).to_contain_text("free plan")
    page.locator(".wiz-surface select").select_option("local")
    next_step(page, 2)
    page.go_back()  # the browser's Back: the previous step, values kept
    expect(page.locator(".wiz-title")).to_contain_text("Step 1 of 7")
    expect(page.locator(".wiz-name input")).to_have_value("Twice clicked")
    next_step(page, 2)
    next_step(page, 3)
    fill(page, ".wiz-symbols", "QQQ")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".wiz-error-symbols")).to_contain_text("'QQQ' is not in the sp500 data source")
    fill(page, ".wiz-symbols", "SPY")
    next_step(page, 4)  # after a refused Next, the browser's Back still goes one step at a time
    page.go_back()
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    expect(page).to_have_url(re.compile(r"[?&]step=3\b"))
    expect(page.locator(".wiz-symbols input")).to_have_value("SPY")
    page.go_back()
    expect(page.locator(".wiz-title")).to_contain_text("Step 2 of 7")
    expect(page).to_have_url(re.compile(r"[?&]step=2\b"))
    page.go_forward()
    expect(page.locator(".wiz-title")).to_contain_text("Step 3 of 7")
    page.go_forward()
    expect(page.locator(".wiz-title")).to_contain_text("Step 4 of 7")
    expect(page).to_have_url(re.compile(r"[?&]step=4\b"))
    for step in range(5, 8):
        next_step(page, step)
    page.locator(".wiz-confirm input").check()
    page.screenshot(path=SHOTS / "web-wizard-review.png", full_page=True)
    page.get_by_role("button", name="Create bot").dblclick()
    expect(page.locator(".wiz-created")).to_contain_text("Twice clicked")
    bot_id = page.locator(".wiz-created").get_attribute("data-bot")

    async def created() -> list[Any] | None:
        assert web.cloud is not None
        bots = (await web.cloud.api.get("/api/v1/bots", headers=headers)).json()["bots"]
        return bots if any(b["id"] == bot_id for b in bots) else None

    bots = web.call(wait_for(created, timeout_s=30, what="the bot to exist"), 40)
    assert [b["name"] for b in bots] == ["Twice clicked"]  # two clicks, one bot
