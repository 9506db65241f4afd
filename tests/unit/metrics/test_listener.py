"""The metrics listener over real loopback TCP: the token rule, the path, and a parseable body."""

from __future__ import annotations

import httpx
from prometheus_client import Counter

from metrics.exposition import MetricsListener, scrape_status
from metrics.scope import ProcessMetrics
from tests.metricsutil import BEARER, TOKEN, parse, value


def test_the_token_rule() -> None:
    assert scrape_status(f"Bearer {TOKEN}", TOKEN) == 200
    assert scrape_status(f"bearer {TOKEN}", TOKEN) == 200
    assert scrape_status(None, TOKEN) == 401
    assert scrape_status("Bearer wrong", TOKEN) == 401
    assert scrape_status(f"Basic {TOKEN}", TOKEN) == 401
    assert scrape_status(f"Bearer {TOKEN}", None) == 404  # no token configured: metrics are off
    assert scrape_status(f"Bearer {TOKEN}", "") == 404


async def test_the_listener_serves_metrics_to_the_token_holder_only() -> None:
    process = ProcessMetrics.bare()
    jobs = Counter("hmmtrade_test_jobs_total", "Jobs.", registry=process.registry)
    refreshed: list[int] = []

    async def refresh() -> None:
        refreshed.append(1)
        jobs.inc()

    listener = MetricsListener(process.registry, host="127.0.0.1", port=0, token=TOKEN, refresh=refresh)
    await listener.start()
    try:
        base = f"http://127.0.0.1:{listener.port}"
        async with httpx.AsyncClient() as client:
            refused = await client.get(f"{base}/metrics")
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
            assert (await client.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
            assert refreshed == []  # an unauthorized scrape costs the bus nothing
            assert (await client.get(f"{base}/other", headers=BEARER)).status_code == 404
            assert (await client.post(f"{base}/metrics", headers=BEARER)).status_code == 405
            first = await client.get(f"{base}/metrics", headers=BEARER)
            second = await client.get(f"{base}/metrics", headers=BEARER)
        assert first.status_code == 200
        assert value(parse(first.text), "hmmtrade_test_jobs_total") == 1
        assert value(parse(second.text), "hmmtrade_test_jobs_total") == 2
        assert ("hmmtrade_process_cpu_seconds_total", ()) in parse(second.text)  # the process collector
    finally:
        await listener.stop()


async def test_without_a_token_the_listener_answers_404() -> None:
    listener = MetricsListener(ProcessMetrics.bare().registry, host="127.0.0.1", port=0, token=None)
    await listener.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{listener.port}/metrics", headers=BEARER)
        assert response.status_code == 404 and "HMMTRADE_METRICS_TOKEN" in response.text
    finally:
        await listener.stop()
