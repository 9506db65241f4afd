"""The FastAPI control plane: ``create_app(settings)`` builds it; nothing happens at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI

from api.authlimits import AuthLimits
from api.billing_state import BillingApi
from api.db_outage import install_database_outage_handler
from api.drain import CloseConnectionsWhileDraining, Drain
from api.observability import RequestContext
from api.problems import BodySizeLimit, install_problem_handlers
from api.routes import (
    auth,
    billing,
    bots,
    brokers,
    health,
    incidents,
    intents,
    internal,
    internal_bootstrap,
    internal_bus,
    metrics,
    notifications,
    rearm,
    status,
)
from api.security import build_security
from api.settings import ApiSettings
from api.state import ApiState
from api.status import StatusBoard
from api.status_probes import build_probes
from api.tokens import TokenService, generate_private_key_pem
from billing.settings import StripeSettings
from events.bus import Bus
from events.topology import TOPOLOGY_TIMEOUT_S, ensure_topology
from metrics.scope import ProcessMetrics

log = structlog.get_logger(__name__)


def _signing_key(settings: ApiSettings) -> bytes:
    if settings.jwt_private_key_file is not None:
        return settings.jwt_private_key_file.read_bytes()
    log.warning(
        "api.ephemeral_signing_key", detail="HMMTRADE_JWT_PRIVATE_KEY_FILE is unset: tokens will not survive a restart"
    )
    return generate_private_key_pem()


def create_app(
    settings: ApiSettings | None = None, *, stripe: StripeSettings | None = None, drain: Drain | None = None
) -> FastAPI:
    """``drain`` is set by the server on SIGTERM (``stack.graceful``); tests may pass their own."""
    settings = settings or ApiSettings()
    drain = drain or Drain()
    stripe_settings = stripe or StripeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ApiState(
            settings=settings,
            bus=Bus(
                settings.nats_url,
                name="hmmtrade-api",
                publish_timeout_s=settings.publish_timeout_s,
                creds=settings.nats_creds,
                ca_file=settings.nats_ca,
            ),
            tokens=TokenService(
                _signing_key(settings),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                access_ttl_s=settings.access_ttl_s,
                refresh_ttl_s=settings.refresh_ttl_s,
            ),
            limits=AuthLimits.from_settings(settings),
        )
        app.state.api = state
        app.state.security = build_security(settings)
        app.state.billing = BillingApi.from_settings(stripe_settings)
        status_http = httpx.AsyncClient(timeout=settings.status_timeout_s)  # the Fly probe's
        probes = build_probes(
            state, app.state.security, app.state.billing, status_http, timeout_s=settings.status_timeout_s
        )
        app.state.status = StatusBoard(probes, timeout_s=settings.status_timeout_s, ttl_s=settings.status_cache_s)
        state.user_events.start()  # a tier change reaches this replica's user cache at once
        await state.bus.start(wait_s=5)
        if state.bus.is_connected:
            topology = state.bus.client.jetstream(timeout=TOPOLOGY_TIMEOUT_S)  # an R3 stream forms a raft group
            await ensure_topology(topology, replicas=settings.bus_replicas)
        log.info("api.started", bus=state.bus.is_connected)
        try:
            yield
        finally:
            await status_http.aclose()
            await app.state.billing.close()
            await state.close()

    app = FastAPI(
        title="HMM Trade control plane",
        version="1.0.0",
        summary="Regime-detection trading bots: accounts, the bot wizard and bot lifecycle.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.state.drain = drain
    app.state.metrics = ProcessMetrics.for_api()  # this app's own registry (see metrics.scope)
    install_database_outage_handler(app)
    for router in (
        health.router,
        status.router,
        auth.router,
        bots.router,
        rearm.router,
        intents.router,
        brokers.router,
        notifications.router,
        internal.router,
        internal.jwks_router,
        internal_bootstrap.router,
        internal_bus.router,
        billing.router,
        incidents.router,
        metrics.router,
    ):
        app.include_router(router)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CloseConnectionsWhileDraining, drain=drain)
    app.add_middleware(RequestContext, metrics=app.state.metrics)  # added last = outermost: it also logs the 413s
    return app
