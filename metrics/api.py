"""The API's families: requests by route template and status, intents accepted, the intent backlog."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

UNMATCHED_ROUTE = "unmatched"  # 404s and probes of random paths: one label value, not one per path


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "hmmtrade_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "hmmtrade_http_request_duration_seconds",
            "Time from receiving a request to the end of its answer, by route template and method.",
            ["route", "method"],
            registry=registry,
        )
        self.intents_accepted = Counter(
            "hmmtrade_intents_accepted_total",
            "Intents the API published to the bus and answered 202 for, by intent kind.",
            ["kind"],
            registry=registry,
        )
        self.intent_backlog = Gauge(
            "hmmtrade_intent_backlog",
            "Bot intents waiting for the lifecycle worker (stored or in a worker's hands), read at scrape time.",
            registry=registry,
        )
        self.intent_backlog_limit = Gauge(
            "hmmtrade_intent_backlog_limit",
            "HMMTRADE_INTENT_BACKLOG_MAX: above it new bot intents are refused with 503.",
            registry=registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route, method).observe(seconds)
