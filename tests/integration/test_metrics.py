"""``/metrics`` on the API and the workers: refused without the operator's token, parsed by
Prometheus's own text parser, and the counters move when a user's intent goes through."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from events.failpoints import Failpoints
from metrics.scope import activate, deactivate
from tests.busutil import messages_on
from tests.conftest import VALID_PROFILE, intent_settled, signup_and_login, wait_for
from tests.fakes.nats_msg import FakeDelivery
from tests.metricsutil import BEARER, TOKEN, scrape, value
from tests.vaultutil import alpaca, connect
from workers import lifecycle
from workers.app import WorkerRuntime, start_workers
from workers.settings import WorkerSettings


@pytest.fixture
async def metered_api(api_settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(api_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def metered_workers(worker_settings: WorkerSettings) -> AsyncIterator[WorkerRuntime]:
    settings = worker_settings.model_copy(update={"metrics_port": 0, "metrics_token": SecretStr(TOKEN)})
    runtime = await start_workers(settings)
    yield runtime
    with contextlib.suppress(Exception):
        await runtime.stop()


def _workers_url(runtime: WorkerRuntime) -> str:
    assert runtime.metrics is not None and runtime.metrics.listener is not None
    return f"http://127.0.0.1:{runtime.metrics.listener.port}/metrics"


async def test_api_metrics_need_the_operators_token(metered_api: httpx.AsyncClient) -> None:
    assert (await metered_api.get("/metrics")).status_code == 401
    wrong = await metered_api.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert wrong.headers["content-type"] == "application/problem+json"
    assert (await metered_api.get("/metrics", headers=BEARER)).status_code == 200
    assert "/metrics" not in (await metered_api.get("/openapi.json")).json()["paths"]


async def test_without_a_configured_token_metrics_are_off(api: httpx.AsyncClient) -> None:
    response = await api.get("/metrics", headers=BEARER)
    assert response.status_code == 404 and "HMMTRADE_METRICS_TOKEN" in response.json()["detail"]


async def test_an_intent_moves_the_api_and_worker_counters(
    metered_api: httpx.AsyncClient, metered_workers: WorkerRuntime
) -> None:
    auth = await signup_and_login(metered_api)
    workers_url = _workers_url(metered_workers)
    async with httpx.AsyncClient() as scraper:
        assert (await scraper.get(workers_url)).status_code == 401
        before = await scrape(scraper, workers_url)
        created = await metered_api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
        assert created.status_code == 202, created.text
        assert (await intent_settled(metered_api, auth, created.json()["intent_id"]))["status"] == "done"

        async def lifecycle_acked() -> float:
            after = await scrape(scraper, workers_url)
            handled = value(after, "hmmtrade_consumer_messages_total", consumer="lifecycle", outcome="acked")
            return handled - value(before, "hmmtrade_consumer_messages_total", consumer="lifecycle", outcome="acked")

        assert await wait_for(lifecycle_acked, what="the lifecycle consumer's acked count to move") == 1
        workers = await scrape(scraper, workers_url)
    assert value(workers, "hmmtrade_consumer_handle_duration_seconds_count", consumer="lifecycle") >= 1
    assert ("hmmtrade_consumer_pending_messages", (("consumer", "lifecycle"),)) in workers  # sampled lag
    assert value(workers, "hmmtrade_consumer_pending_messages", consumer="lifecycle") == 0
    assert ("hmmtrade_dlq_messages", ()) in workers

    api = await scrape(metered_api, "/metrics")
    assert value(api, "hmmtrade_intents_accepted_total", kind="bot.create") == 1
    route = {"route": "/api/v1/bots", "method": "POST"}
    assert value(api, "hmmtrade_http_requests_total", **route, status="202") == 1
    assert value(api, "hmmtrade_http_request_duration_seconds_count", **route) == 1
    by_id = {"route": "/api/v1/intents/{intent_id}", "method": "GET", "status": "200"}
    assert value(api, "hmmtrade_http_requests_total", **by_id) >= 1  # the template, not each id
    assert value(api, "hmmtrade_intent_backlog") == 0
    assert value(api, "hmmtrade_intent_backlog_limit") > 0


async def test_a_broker_connection_is_counted_as_a_kms_call(
    metered_api: httpx.AsyncClient, metered_workers: WorkerRuntime
) -> None:
    auth = await signup_and_login(metered_api)
    before = await scrape(metered_api, "/metrics")
    await connect(metered_api, auth, alpaca())
    after = await scrape(metered_api, "/metrics")
    calls = "hmmtrade_vendor_call_duration_seconds_count"
    assert (
        value(after, calls, vendor="kms", operation="encrypt") - value(before, calls, vendor="kms", operation="encrypt")
        == 1
    )
    assert value(after, "hmmtrade_intents_accepted_total", kind="broker.connect") == 1


async def test_a_redelivery_answered_from_the_ledger_counts_as_a_replay(
    metered_api: httpx.AsyncClient, metered_workers: WorkerRuntime
) -> None:
    auth = await signup_and_login(metered_api)
    created = await metered_api.post("/api/v1/bots", json=VALID_PROFILE, headers=auth)
    intent_id = created.json()["intent_id"]
    assert (await intent_settled(metered_api, auth, intent_id))["status"] == "done"
    published = await messages_on(metered_workers.bus.js, "INTENTS", "intents.bot.create")
    [(subject, body)] = [(subject, body) for subject, body in published if body["id"] == intent_id]
    # The same intent delivered again (as after a worker died before its ack): the handler
    # re-publishes the saved outcome from the ledger instead of applying it twice.
    again = FakeDelivery(subject=subject, data=json.dumps(body).encode(), num_delivered=2)
    deps = lifecycle.LifecycleDeps(pool=metered_workers.pool, bus=metered_workers.bus, failpoints=Failpoints())
    assert metered_workers.metrics is not None
    token = activate(metered_workers.metrics.process)
    try:
        await lifecycle.handle(again, deps)  # type: ignore[arg-type]
    finally:
        deactivate(token)
    async with httpx.AsyncClient() as scraper:
        workers = await scrape(scraper, _workers_url(metered_workers))
    assert value(workers, "hmmtrade_ledger_replays_total", consumer="lifecycle") == 1
    # the only replica holds the lifecycle lease: it projected the intent above
    assert value(workers, "hmmtrade_singleton_held", singleton="lifecycle") == 1
    assert value(workers, "hmmtrade_singleton_tenures_total", singleton="lifecycle") == 1
