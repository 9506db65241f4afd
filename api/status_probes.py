"""The probes behind ``GET /api/v1/status``: the cheapest read each component answers.

- api: answering this request is the check.
- bus: a NATS flush round trip (as /readyz); database: ``SELECT 1`` on the pool (as /readyz).
- kms: Cloud KMS ``GetCryptoKey`` on the broker-secrets key (no data passes; says whether the
  primary version can encrypt), through the API's own KMS client.
- stripe: ``GET /v1/events?limit=1`` through the API's Stripe gateway.
- fly: ``GET /v1/apps/{app}`` on the Machines API with ``FLY_API_TOKEN``; a read-only token is
  enough. Without Fly settings the API cannot tell, and says so (``degraded``).

Every failure is named by kind in plain words; vendors' messages are never passed through.
"""

from __future__ import annotations

import httpx

from api.billing_state import BillingApi
from api.security import SecurityState
from api.settings import ApiSettings
from api.state import ApiState, DatabaseUnavailable
from api.status import Probe, ProbeFailed, Verdict
from billing.gateway import StripeRejected, StripeUnavailable
from contracts.api import StatusComponent
from fly.probe import probe_fly
from vault.errors import KmsRejected, KmsUnavailable
from vault.gcp import GoogleKms

KMS_PROBE_PLAINTEXT = b"hmmtrade status probe"  # only for a KMS port other than Cloud KMS (tests' fakes)


def build_probes(
    state: ApiState, security: SecurityState, billing: BillingApi, http: httpx.AsyncClient, *, timeout_s: float
) -> dict[StatusComponent, Probe]:
    settings = state.settings

    async def api() -> Verdict:
        return Verdict("answering")

    async def bus() -> Verdict:
        if not await state.bus.ping(timeout_s=timeout_s):
            raise ProbeFailed("the message bus does not answer")
        return Verdict("connected")

    async def database() -> Verdict:
        try:
            pool = await state.pool()
            await pool.fetchval("SELECT 1", timeout=timeout_s)
        except (DatabaseUnavailable, OSError, TimeoutError) as exc:
            raise ProbeFailed("the database does not answer") from exc
        except Exception as exc:  # any database error means it cannot serve
            raise ProbeFailed(f"the database refused the check ({type(exc).__name__})") from exc
        return Verdict("answering")

    async def kms() -> Verdict:
        try:
            client = security.kms
            if isinstance(client, GoogleKms):
                primary = await client.primary_state(security.kms_key_name, timeout_s=timeout_s)
                if primary != "ENABLED":
                    return Verdict(
                        f"the broker-secrets key's primary version is {primary.lower()}: "
                        "new broker connections cannot be saved",
                        "degraded",
                    )
            else:
                await client.encrypt(security.kms_key_name, KMS_PROBE_PLAINTEXT)
        except KmsUnavailable as exc:
            raise ProbeFailed("the key management service does not answer") from exc
        except KmsRejected as exc:
            raise ProbeFailed("the key management service refused our request") from exc
        return Verdict("answering")

    async def stripe() -> Verdict:
        try:
            await billing.gateway.list_events(limit=1)
        except StripeUnavailable as exc:
            raise ProbeFailed("the payment provider does not answer") from exc
        except StripeRejected as exc:
            raise ProbeFailed("the payment provider refused our request") from exc
        return Verdict("answering")

    async def fly() -> Verdict:
        return await _fly(settings, http, timeout_s)

    return {"api": api, "bus": bus, "database": database, "kms": kms, "stripe": stripe, "fly": fly}


async def _fly(settings: ApiSettings, http: httpx.AsyncClient, timeout_s: float) -> Verdict:
    if settings.fly_api_token is None:
        return Verdict("not checked: this API has no Fly Machines settings (FLY_API_TOKEN)", "degraded")
    return await probe_fly(
        http,
        hostname=settings.fly_api_hostname,
        app=settings.fly_app_name,
        token=settings.fly_api_token.get_secret_value(),
        timeout_s=timeout_s,
    )
