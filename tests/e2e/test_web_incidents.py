"""Incidents and service credits in the cloud web app, in a real browser against the real stack
(the same stack and helpers as ``test_web.py``): the status page's incident history, the banner
for affected users, and the credits on the billing page.

Incidents are opened and closed through the incident service (what the watch and
``hmmtrade incidents`` use) straight against the stack's Postgres; credits are recorded with the
credits store, as the credits worker does after computing them.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents import terms
from incidents.service import IncidentService
from store import credits, incidents
from store.credits import CreditedBotRow, CreditRow
from store.pool import create_pool
from tests.conftest import wait_for
from tests.e2e import test_web
from tests.e2e.agentserver import TIMEOUT_MS
from tests.e2e.conftest import loopback_tab
from tests.e2e.test_web import SHOTS, api, api_user, hosted_profile, log_in, new_email, set_tier_now
from tests.e2e.webstack import WebCloud
from web.api import ApiUnreachable
from web.credit_words import GRACE_MINUTES, hours_words
from web.incident_words import duration_words
from web.incidents import Fresh

T = TypeVar("T")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OPERATOR = "operator:e2e"
expect.set_options(timeout=TIMEOUT_MS)

web = test_web.web  # test_web.py's stack fixture (module-scoped: this module gets a stack of its own)


@contextmanager
def tab(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    """A fresh browser profile; fails the test if a page fetched from anywhere but loopback or threw."""
    with loopback_tab(browser, viewport["width"], viewport["height"], mobile=viewport["width"] < 500) as page:
        yield page


def assert_fits(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"{what} is {width} px wide on a {viewport['width']} px screen"


def with_db(web: WebCloud, pg_dsn: str, work: Callable[[IncidentService], Awaitable[T]]) -> T:
    """Run ``work`` with an incident service over the stack's database (stored only: no bus)."""

    async def run() -> T:
        pool = await create_pool(pg_dsn, max_size=2)
        try:
            return await work(IncidentService(pool, bus=None))
        finally:
            await pool.close()

    return web.call(run())


def close_quietly(web: WebCloud, pg_dsn: str, incident_id: uuid.UUID) -> None:
    async def close(service: IncidentService) -> None:
        found = await incidents.get(service.pool, incident_id)
        if found is not None and found.ended_at is None:
            await service.close(incident_id, author=OPERATOR)

    with_db(web, pg_dsn, close)


@pytest.fixture(scope="module", autouse=True)
def no_incidents_before(web: WebCloud, pg_dsn: str) -> None:
    """The session's database is shared: an incident an earlier test left open (one open per
    component) or closed (the history's order) must not decide what these pages show."""

    async def clear(service: IncidentService) -> None:
        await service.pool.execute("DELETE FROM incidents")

    with_db(web, pg_dsn, clear)


# ---- the status page ------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_status_page_lists_open_and_past_incidents_with_their_updates(
    browser: Browser, web: WebCloud, pg_dsn: str, viewport: dict[str, int]
) -> None:
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]

    async def past_and_open(service: IncidentService) -> tuple[uuid.UUID, uuid.UUID]:
        past = await service.open(
            component="stripe",
            title=f"Checkout failing {tag}",
            author=OPERATOR,
            started_at=now - timedelta(hours=3, minutes=10),
            message="Card payments fail at checkout.",
        )
        await service.update(past.id, message="The payment provider had an outage.", author=OPERATOR)
        await service.close(past.id, author=OPERATOR, ended_at=now - timedelta(hours=1), message="Payments work again.")
        ongoing = await service.open(
            component="kms",
            title=f"Key management slow {tag}",
            author=OPERATOR,
            impact="degraded",
            started_at=now - timedelta(minutes=20),
            message="New broker connections take long.",
        )
        await service.update(ongoing.id, message="A fix is in place.", author=OPERATOR, state="monitoring")
        return past.id, ongoing.id

    past_id, open_id = with_db(web, pg_dsn, past_and_open)
    try:
        with tab(browser, viewport) as page:
            page.goto(f"{web.web_url}/status")
            expect(page.locator('tr[data-component="kms"]')).to_be_visible()  # component health stays
            ongoing = page.locator(f'.incidents-open article[data-incident="{open_id}"]')
            expect(ongoing).to_contain_text(f"Key management (KMS): Key management slow {tag}")
            expect(ongoing.locator(".meta")).to_contain_text("Degraded service · since ")
            expect(ongoing.locator(".meta")).to_contain_text(re.compile(r"· ongoing for 2\d min$"))
            expect(ongoing.locator("li")).to_have_count(2)
            expect(ongoing.locator("li").nth(0)).to_contain_text("Fix in place, monitoring: A fix is in place.")
            expect(ongoing.locator("li").nth(1)).to_contain_text("Investigating: New broker connections take long.")

            past = page.locator(f'.incidents-past article[data-incident="{past_id}"]')
            expect(past).to_contain_text(f"Payments (Stripe): Checkout failing {tag}")
            expect(past.locator(".meta")).to_contain_text("Outage · ")
            expect(past.locator(".meta")).to_contain_text("lasted 2 h 10 min")
            expect(past.locator("li")).to_have_count(3)  # newest first
            expect(past.locator("li").nth(0)).to_contain_text("Resolved: Payments work again.")
            expect(past.locator("li").nth(1)).to_contain_text("Cause identified: The payment provider had an outage.")
            expect(past.locator("li").nth(2)).to_contain_text("Investigating: Card payments fail at checkout.")
            assert_fits(page, "/status")
            page.screenshot(path=SHOTS / f"web-status-incidents-{viewport['width']}.png", full_page=True)

            close_quietly(web, pg_dsn, open_id)  # the page follows without a reload
            closed = page.locator(f'.incidents-past article[data-incident="{open_id}"]')
            expect(closed.locator("li").nth(0)).to_contain_text("Resolved: The service works normally again.")
            expect(page.locator(f'.incidents-open article[data-incident="{open_id}"]')).to_have_count(0)
    finally:
        close_quietly(web, pg_dsn, open_id)


# ---- the banner --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosted_user(web: WebCloud) -> Iterator[dict[str, Any]]:
    """A Pro user with one hosted bot (stopped once launched, to spare the CPU: it still counts)."""
    email = new_email()
    headers = api_user(web, email)
    set_tier_now(web, headers, "pro")
    created = api(web, "POST", "/api/v1/bots", headers, json=hosted_profile("Banner bot"))

    async def intent_done(intent_id: str) -> bool:
        assert web.cloud is not None
        response = await web.cloud.api.get(f"/api/v1/intents/{intent_id}", headers=headers)
        return response.status_code == 200 and response.json()["status"] == "done"

    web.call(wait_for(lambda: intent_done(created["intent_id"]), timeout_s=120, what="the bot created"), 130)
    stop = api(web, "POST", f"/api/v1/bots/{created['bot_id']}/stop", headers)
    web.call(wait_for(lambda: intent_done(stop["intent_id"]), timeout_s=120, what="the stop handled"), 130)

    async def stopped() -> bool:
        assert web.cloud is not None
        response = await web.cloud.api.get(f"/api/v1/bots/{created['bot_id']}", headers=headers)
        return response.status_code == 200 and response.json()["status"] == "stopped"

    web.call(wait_for(stopped, timeout_s=120, what="the bot stopped"), 130)
    yield {"email": email, "headers": headers, "bot_id": created["bot_id"]}
    api(web, "DELETE", f"/api/v1/bots/{created['bot_id']}", headers)


def test_a_fly_incident_shows_a_banner_to_users_with_hosted_bots_only_until_it_closes(
    browser: Browser, web: WebCloud, pg_dsn: str, hosted_user: dict[str, Any]
) -> None:
    unaffected = new_email()
    api_user(web, unaffected)  # free, no bots: a hosted-machines incident is not theirs
    title = f"Hosted bots cannot start {uuid.uuid4().hex[:6]}"

    async def open_fly(service: IncidentService) -> uuid.UUID:
        incident = await service.open(component="fly", title=title, author=OPERATOR, message="Launches fail.")
        await service.update(incident.id, message="Our provider's API is down in one region.", author=OPERATOR)
        return incident.id

    incident_id = with_db(web, pg_dsn, open_fly)
    try:
        with tab(browser, DESKTOP) as page, tab(browser, PHONE) as phone, tab(browser, DESKTOP) as other:
            log_in(page, web, hosted_user["email"])
            banner = page.locator(".incident-banner")
            expect(banner).to_contain_text(f"Incident: {title} (Hosted machines (Fly), since ")
            expect(banner).to_contain_text("Latest update (")
            expect(banner).to_contain_text("· Cause identified: Our provider's API is down in one region.")
            expect(banner.get_by_role("link", name="Details and history on the status page")).to_have_attribute(
                "href", "/status"
            )
            expect(page.locator(".web-banner")).to_be_hidden()  # the health banner: Fly itself answers
            page.screenshot(path=SHOTS / "web-incident-banner.png", full_page=True)

            log_in(phone, web, hosted_user["email"], then="/billing")
            expect(phone.locator(".incident-banner")).to_contain_text(title)
            phone.locator(".plan-now").wait_for()
            assert_fits(phone, "/billing with the incident banner")
            phone.screenshot(path=SHOTS / "web-incident-banner-phone.png", full_page=True)

            log_in(other, web, unaffected)
            # asked and answered: none of the open incidents affects this user
            expect(other.locator(".incident-banner-none")).to_have_attribute("data-incidents", "0")
            expect(other.locator(".incident-banner")).to_have_count(0)

            close_quietly(web, pg_dsn, incident_id)
            expect(page.locator(".incident-banner")).to_have_count(0)  # gone without a reload
            expect(page.locator(".incident-banner-none")).to_have_attribute("data-incidents", "0")
            expect(phone.locator(".incident-banner")).to_have_count(0)
    finally:
        close_quietly(web, pg_dsn, incident_id)


# ---- credits on the billing page ----------------------------------------------------------------------


def test_the_billing_page_lists_service_credits_to_the_cent(browser: Browser, web: WebCloud, pg_dsn: str) -> None:
    assert GRACE_MINUTES * 60 == terms.GRACE_S  # the page's words follow docs/terms.md
    email = new_email()
    headers = api_user(web, email)
    set_tier_now(web, headers, "pro")
    user_id = uuid.UUID(api(web, "GET", "/api/v1/me", headers)["id"])
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]

    with tab(browser, DESKTOP) as page:
        log_in(page, web, email, then="/billing")
        page.locator(".plan-now").wait_for()  # the credits are asked for before the plan
        expect(page.get_by_text("Service credits")).to_have_count(0)  # none: no section

        async def closed_and_settled(service: IncidentService, title: str, hours_ago: int) -> uuid.UUID:
            """A closed Fly incident whose credits are settled (none computed: no bot was down), as the
            credits worker leaves it; the credits below are then recorded as if it had computed them."""
            started = now - timedelta(hours=hours_ago)
            incident = await service.open(component="fly", title=title, author=OPERATOR, started_at=started)
            await service.close(incident.id, author=OPERATOR, ended_at=started + timedelta(hours=3))
            await incidents.mark_computed(service.pool, incident.id, at=now)
            await incidents.mark_settled(service.pool, incident.id, at=now)
            return incident.id

        big = with_db(web, pg_dsn, lambda service: closed_and_settled(service, f"Fly machines failing {tag}", 8))
        small = with_db(web, pg_dsn, lambda service: closed_and_settled(service, f"Fly slow to wake {tag}", 5))
        down_s, credited_s = 9000, 9000 - terms.GRACE_S  # 2.5 h down, 2.0 h credited
        cents = terms.credit_cents("pro", credited_s)
        assert cents == 8  # $29 x 7,200 s / 30 days = 8.06 cents, rounded half up to the cent

        async def record(service: IncidentService) -> None:
            issued = CreditRow(
                incident_id=big,
                user_id=user_id,
                plan="pro",
                bot_seconds=down_s,
                credited_seconds=credited_s,
                amount_cents=cents,
                currency="usd",
                status="pending",
                bots=[CreditedBotRow(uuid.uuid4(), "Bot A", down_s, credited_s)],
            )
            none_due = replace(
                issued,
                incident_id=small,
                bot_seconds=1200,
                credited_seconds=0,
                amount_cents=0,
                status="none_due",
                bots=[CreditedBotRow(uuid.uuid4(), "Bot B", 1200, 0)],
            )
            await credits.record(service.pool, [issued, none_due])
            await credits.mark_issued(service.pool, big, user_id, status="issued", txn_id="cbtxn_e2e", at=now)

        with_db(web, pg_dsn, record)
        section = page.locator(".billing-credits")
        expect(section.locator("h2")).to_have_text("Service credits")  # the page follows without a reload
        expect(section.locator('li[data-status="issued"]')).to_contain_text(
            f"$0.08 credited on {now:%Y-%m-%d} for Fly machines failing {tag}: Bot A down 2.5 h (2.0 h credited)."
        )
        expect(section.locator('li[data-status="none_due"]')).to_contain_text(
            f"No credit due for Fly slow to wake {tag}: Bot B down 20 min (none credited), "
            "within the 30-minute grace period."
        )
        page.screenshot(path=SHOTS / "web-billing-credits.png", full_page=True)

    with tab(browser, PHONE) as phone:
        log_in(phone, web, email, then="/billing")
        expect(phone.locator('.billing-credits li[data-status="issued"]')).to_contain_text("$0.08 credited on")
        assert_fits(phone, "/billing with credits")


# ---- the words and the shared poll (no browser) ---------------------------------------------------------


def test_durations_and_hours_read_in_plain_units() -> None:
    assert [duration_words(s) for s in (30, 60, 45 * 60, 2 * 3600, 2 * 3600 + 5 * 60, 3 * 86400 + 4 * 3600)] == [
        "<1 min",
        "1 min",
        "45 min",
        "2 h",
        "2 h 5 min",
        "3 d 4 h",
    ]
    assert [hours_words(h) for h in (0.0, 1 / 3, 1.0, 2.25, 2.5)] == ["0 min", "20 min", "1.0 h", "2.3 h", "2.5 h"]


def test_pages_asking_at_once_share_one_fetch_per_max_age_and_a_failure_keeps_the_last_answer() -> None:
    now = [0.0]
    answers: list[object] = [["first"], ApiUnreachable("down"), ["third"]]

    async def fetch() -> list[str]:
        await asyncio.sleep(0)  # the other askers arrive meanwhile
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def scenario() -> None:
        fresh: Fresh[list[str]] = Fresh(fetch, max_age_s=5, clock=lambda: now[0])
        snaps = await asyncio.gather(*(fresh.get() for _ in range(10)))
        assert fresh.fetches == 1 and {tuple(s.value or ()) for s in snaps} == {("first",)}
        now[0] = 4.9
        assert (await fresh.get()).value == ["first"] and fresh.fetches == 1
        now[0] = 5.0
        failed = await fresh.get()
        assert failed.value == ["first"] and isinstance(failed.error, ApiUnreachable) and fresh.fetches == 2
        assert (await fresh.get()) is failed  # a failure counts as a poll: the API is not hammered
        now[0] = 10.0
        assert (await fresh.get()).value == ["third"] and fresh.fetches == 3

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop running in this thread
        thread.submit(asyncio.run, scenario()).result(30)
