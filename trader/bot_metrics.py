"""A bot process's metrics: activated for the run, served on loopback when a port is set.

``HMMTRADE_BOT_METRICS_PORT`` (from the environment or the instance's ``.env``) turns on a
``GET /metrics`` listener on ``HMMTRADE_METRICS_HOST`` (default 127.0.0.1), with the same
bearer-token rule as every process (``HMMTRADE_METRICS_TOKEN``; none set: 404). A bot the
agent runs, or a hosted bot that stays up, can be scraped this way. A scale-to-zero hosted
bot is off between ticks, where no scraper would find it: its liveness and audit lag are
measured where its audit lands, by the workers' audit-ingest consumer
(``hmmtrade_bot_last_audit_timestamp_seconds``, ``hmmtrade_bot_audit_lag_seconds``).
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics.exposition import TOKEN_ENV, MetricsListener
from metrics.scope import ProcessMetrics, activate

PORT_ENV = "HMMTRADE_BOT_METRICS_PORT"
HOST_ENV = "HMMTRADE_METRICS_HOST"


async def start_bot_metrics(env: Mapping[str, str]) -> tuple[ProcessMetrics, MetricsListener | None]:
    """Activate this bot's metrics for the caller's context; start the listener if a port is set."""
    process = ProcessMetrics.for_bot()
    activate(process)
    port = env.get(PORT_ENV, "").strip()
    if not port:
        return process, None
    listener = MetricsListener(
        process.registry, host=env.get(HOST_ENV) or "127.0.0.1", port=int(port), token=env.get(TOKEN_ENV) or None
    )
    await listener.start()
    return process, listener
