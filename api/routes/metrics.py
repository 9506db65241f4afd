"""``GET /metrics``: this API replica's Prometheus metrics, for an operator's scraper only.

Bearer ``HMMTRADE_METRICS_TOKEN`` or 401; with no token configured the route answers 404
(metrics off, see :mod:`metrics.exposition`). Left out of the OpenAPI document: it is an
operations endpoint, not part of the product's API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.problems import ProblemError
from metrics.exposition import render, scrape_status
from metrics.scope import ProcessMetrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    settings = request.app.state.api.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    status = scrape_status(request.headers.get("authorization"), token)
    if status == 404:
        raise ProblemError(404, "Metrics are off on this API: set HMMTRADE_METRICS_TOKEN to turn them on.")
    if status == 401:
        raise ProblemError(
            401, "Send the operator's metrics token as a bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    process: ProcessMetrics = request.app.state.metrics
    if process.api is not None:
        backlog = await request.app.state.api.backlog.current()
        process.api.intent_backlog_limit.set(request.app.state.api.backlog.limit)
        if backlog is not None:  # unreadable: keep the last figure rather than report an empty queue
            process.api.intent_backlog.set(backlog.total)
    body, content_type = render(process.registry)
    return Response(body, media_type=content_type)
