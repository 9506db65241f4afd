"""The agent's ``/metrics`` on its dashboard server: its supervised bots, by state, and their restarts.

Served by the dashboard's Tornado application ahead of Bokeh's routes, behind the same
bearer-token rule as every process (:mod:`metrics.exposition`): ``HMMTRADE_METRICS_TOKEN``
or 401, none set: 404. The dashboard's Host check still applies first, so only a scraper on
this machine (or the configured bind address) reaches it. Each bot's own figures come from
the bot's listener (``HMMTRADE_BOT_METRICS_PORT`` in its ``.env``; see ``trader.bot_metrics``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from tornado.routing import PathMatches, Rule
from tornado.web import RequestHandler

from agent.supervisor import ProcState, Supervisor
from metrics.exposition import METRICS_PATH, render, scrape_status
from metrics.scope import ProcessMetrics


class SupervisedBots(Collector):
    """Read at scrape time from the supervisor's table: no bookkeeping on its hot path."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        bots = list(self._supervisor.bots.values())
        states = Counter(bot.state for bot in bots)
        by_state = GaugeMetricFamily("hmmtrade_agent_bots", "Bots the agent supervises, by state.", labels=["state"])
        for state in get_args(ProcState):
            by_state.add_metric([state], states.get(state, 0))
        yield by_state
        yield CounterMetricFamily(
            "hmmtrade_agent_bot_restarts",
            "Times the agent restarted a bot's process after it exited (this agent's lifetime).",
            value=sum(bot.restarts for bot in bots),
        )


def agent_metrics(supervisor: Supervisor) -> ProcessMetrics:
    process = ProcessMetrics.bare()
    process.registry.register(SupervisedBots(supervisor))
    return process


class _MetricsHandler(RequestHandler):
    def initialize(self, process: ProcessMetrics, token: str | None) -> None:
        self.process = process
        self.token = token

    def get(self) -> None:
        status = scrape_status(self.request.headers.get("Authorization"), self.token)
        if status != 200:
            self.set_status(status)
            if status == 401:
                self.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("metrics are off: no HMMTRADE_METRICS_TOKEN is set\n" if status == 404 else "bearer token\n")
            return
        body, content_type = render(self.process.registry)
        self.set_header("Content-Type", content_type)
        self.finish(body)


def serve_metrics(server: Any, process: ProcessMetrics, *, token: str | None) -> None:
    """Add ``GET /metrics`` to the Bokeh ``server`` (after the Host check, before Bokeh's pages)."""
    rules = server._tornado.default_router.rules  # see agent.dashboard.hosts for this private attribute
    rules.insert(1, Rule(PathMatches(METRICS_PATH), _MetricsHandler, {"process": process, "token": token}))
