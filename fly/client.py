"""Async client of the Fly Machines API (``/v1/apps/{app}/machines``), over an injected ``httpx.AsyncClient``.

Every call retries rate limits (429) and outages (5xx, connection errors) with backoff
(:mod:`fly.backoff`), then raises one of :mod:`fly.errors`; no httpx exception escapes.
A create whose answer was lost (5xx or a timeout after the request was sent) is not blindly
repeated: the client first looks the machine up by its metadata, so one create call makes at
most one machine.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from fly.backoff import RetryPolicy, parse_retry_after
from fly.errors import (
    FlyAuthError,
    FlyBadRequest,
    FlyConflict,
    FlyError,
    FlyNotFound,
    FlyPermanentError,
    FlyRateLimited,
    FlyTransientError,
    FlyUnavailable,
    FlyWaitTimeout,
)
from fly.models import BOT_ID_KEY, Machine, MachineConfig, WaitState
from fly.settings import DEFAULT_API_HOSTNAME, FlySettings
from metrics import observe

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_MACHINE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WAIT_CHUNK_S = 60  # Fly's /wait accepts at most 60 s per call
_GONE = ("destroying", "destroyed")


class _LostAnswer(FlyUnavailable):
    """The request went out but no usable answer came back (5xx, read timeout): it may have taken effect."""


class FlyMachines:
    """The machines of one Fly app.

    ``http`` is owned by the caller (tests pass ``httpx.AsyncClient(transport=httpx.MockTransport(...))``);
    ``sleep`` is what the backoff awaits, injectable so tests don't wait.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_name: str,
        token: str,
        base_url: str = DEFAULT_API_HOSTNAME,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        if not token:
            raise FlyAuthError("no Fly API token: set FLY_API_TOKEN")
        self._http = http
        self._app = app_name
        self._auth = {"Authorization": f"Bearer {token}"}
        self._base = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not secrets
        self._timeout_s = request_timeout_s

    @classmethod
    def from_settings(cls, settings: FlySettings, http: httpx.AsyncClient, **options: Any) -> FlyMachines:
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        return cls(http, app_name=settings.app_name, token=token, base_url=settings.api_hostname, **options)

    @property
    def app_name(self) -> str:
        return self._app

    # -- machines ---------------------------------------------------------------------------------

    @observe.vendor_call("fly", "create")
    async def create(
        self, config: MachineConfig, *, name: str | None = None, region: str | None = None, skip_launch: bool = False
    ) -> Machine:
        """Create (and, unless ``skip_launch``, boot) a machine; returns it as Fly reported it.

        When the answer is lost after the request went out, the machine may exist: if ``config``
        has metadata the client looks it up by that metadata before trying again (and returns it
        if found); without metadata it raises :class:`FlyUnavailable` instead of risking a twin.
        """
        body: dict[str, Any] = {"config": config.to_wire()}
        if name:
            body["name"] = name
        if region:
            body["region"] = region
        if skip_launch:
            body["skip_launch"] = True
        path = self._machines_path()
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                response = await self._request("POST", path, json=body, retry_ambiguous=False)
                return _machine(response)
            except _LostAnswer as lost:
                if not config.metadata or attempt == self._retry.max_attempts:
                    raise FlyUnavailable(lost.message, status=lost.status, method=lost.method, path=lost.path) from None
            existing = await self.list(metadata=config.metadata)
            if existing:
                log.info("fly.create_found_existing", machine_id=existing[0].id, metadata=config.metadata)
                return existing[0]
            await self._sleep(self._retry.delay_s(attempt, None, self._rng))
        raise AssertionError("unreachable")  # pragma: no cover

    @observe.vendor_call("fly", "get")
    async def get(self, machine_id: str) -> Machine:
        return _machine(await self._request("GET", self._machine_path(machine_id)))

    @observe.vendor_call("fly", "list")
    async def list(self, *, metadata: Mapping[str, str] | None = None, include_deleted: bool = False) -> list[Machine]:
        """Machines of the app, optionally only those whose metadata has every given key/value."""
        params: dict[str, str] = {f"metadata.{key}": value for key, value in (metadata or {}).items()}
        if include_deleted:
            params["include_deleted"] = "true"
        response = await self._request("GET", self._machines_path(), params=params)
        machines = _machines(response)
        # Filter again here: a server that ignored a filter must not hand a bot someone else's machine.
        wanted = dict(metadata or {})
        return [
            m
            for m in machines
            if all(m.config.metadata.get(k) == v for k, v in wanted.items())
            and (include_deleted or m.state not in _GONE)
        ]

    async def find_by_bot(self, bot_id: str) -> Machine | None:
        """The live machine tagged with ``bot_id``, if there is one."""
        machines = await self.list(metadata={BOT_ID_KEY: bot_id})
        return machines[0] if machines else None

    @observe.vendor_call("fly", "start")
    async def start(self, machine_id: str) -> str:
        """Boot a stopped machine; returns the state it was in. Starting a started machine is a no-op."""
        response = await self._request("POST", f"{self._machine_path(machine_id)}/start")
        body = _json(response)
        return str(body.get("previous_state", "")) if isinstance(body, dict) else ""

    @observe.vendor_call("fly", "stop")
    async def stop(self, machine_id: str, *, signal: str = "SIGTERM", timeout_s: float | None = None) -> None:
        """Send ``signal`` to the machine's main process, SIGKILL after ``timeout_s`` (the config's default if None).

        Returns once Fly accepted the stop; use :meth:`wait` for ``stopped``.
        """
        body: dict[str, Any] = {"signal": signal}
        if timeout_s is not None:
            body["timeout"] = f"{timeout_s:g}s"
        await self._request("POST", f"{self._machine_path(machine_id)}/stop", json=body)

    @observe.vendor_call("fly", "wait")
    async def wait(
        self, machine_id: str, state: WaitState, *, timeout_s: float = 60.0, instance_id: str | None = None
    ) -> None:
        """Return once the machine is in ``state``; :class:`FlyWaitTimeout` after ``timeout_s``.

        Waits longer than Fly's 60 s per call are made of several calls.
        """
        path = f"{self._machine_path(machine_id)}/wait"
        remaining = max(1, math.ceil(timeout_s))
        while remaining > 0:
            chunk = min(_WAIT_CHUNK_S, remaining)
            remaining -= chunk
            params = {"state": state, "timeout": str(chunk)}
            if instance_id:
                params["instance_id"] = instance_id
            try:
                await self._request("GET", path, params=params, timeout_s=chunk + self._timeout_s)
                return
            except FlyWaitTimeout:
                continue
        raise FlyWaitTimeout(
            f"machine {machine_id} did not reach {state!r} within {timeout_s:g}s", status=408, method="GET", path=path
        )

    @observe.vendor_call("fly", "delete")
    async def delete(self, machine_id: str, *, force: bool = False, missing_ok: bool = False) -> None:
        """Destroy the machine; ``force`` kills a running one first. ``missing_ok`` makes a gone machine a success."""
        params = {"force": "true"} if force else {}
        try:
            await self._request("DELETE", self._machine_path(machine_id), params=params)
        except FlyNotFound:
            if not missing_ok:
                raise

    # -- plumbing ---------------------------------------------------------------------------------

    def _machines_path(self) -> str:
        return f"/v1/apps/{self._app}/machines"

    def _machine_path(self, machine_id: str) -> str:
        if not _MACHINE_ID.match(machine_id):
            raise ValueError(f"{machine_id!r} is not a Fly machine id")
        return f"{self._machines_path()}/{machine_id}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        retry_ambiguous: bool = True,
    ) -> httpx.Response:
        """One API call with retries. ``retry_ambiguous=False`` gives up on failures after which the
        request may have taken effect (5xx, a read timeout) instead of repeating it."""
        url = f"{self._base}{path}"
        for attempt in range(1, self._retry.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=self._auth,
                    timeout=timeout_s or self._timeout_s,
                )
            except httpx.RequestError as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                error: FlyError = FlyUnavailable(
                    f"Fly Machines API unreachable ({type(exc).__name__})", method=method, path=path
                )
                ambiguous = sent
            else:
                if response.status_code < 400:
                    return response
                error = translate(response, method=method, path=path)
                if isinstance(error, FlyPermanentError | FlyWaitTimeout):
                    raise error
                ambiguous = response.status_code >= 500
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if isinstance(error, FlyRateLimited):
                    error.retry_after_s = retry_after
            if ambiguous and not retry_ambiguous:
                raise _LostAnswer(error.message, status=error.status, method=method, path=path)
            if attempt == self._retry.max_attempts:
                raise error
            if retry_after is not None and retry_after > self._retry.max_retry_after_s:
                raise error
            delay = self._retry.delay_s(attempt, retry_after, self._rng)
            log.warning(
                "fly.retry", method=method, path=path, status=error.status, attempt=attempt, delay_s=round(delay, 3)
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _unexpected(response, "not JSON") from None


def _machine(response: httpx.Response) -> Machine:
    try:
        return Machine.model_validate(_json(response))
    except ValidationError as exc:
        raise _unexpected(response, f"not a machine ({exc.error_count()} problems)") from None


def _machines(response: httpx.Response) -> list[Machine]:
    body = _json(response)
    if not isinstance(body, list):
        raise _unexpected(response, "not a list of machines")
    try:
        return [Machine.model_validate(item) for item in body]
    except ValidationError as exc:
        raise _unexpected(response, f"not a list of machines ({exc.error_count()} problems)") from None


def _unexpected(response: httpx.Response, what: str) -> FlyUnavailable:
    request = response.request
    return FlyUnavailable(
        f"Fly answered {response.status_code} with a body that is {what}",
        status=response.status_code,
        method=request.method,
        path=request.url.path,
    )


def translate(response: httpx.Response, *, method: str, path: str) -> FlyError:
    """Map a Fly error answer to our exception tree."""
    status = response.status_code
    message = _error_message(response)
    kwargs: dict[str, Any] = {"status": status, "method": method, "path": path}
    if status == 429:
        return FlyRateLimited(f"Fly rate limit: {message}", **kwargs)
    if status >= 500:
        return FlyUnavailable(f"Fly Machines API error: {message}", **kwargs)
    if status == 408:
        return FlyWaitTimeout(f"Fly wait timed out: {message}", **kwargs)
    if status in (401, 403):
        return FlyAuthError(f"Fly refused the token: {message}", **kwargs)
    if status == 404:
        return FlyNotFound(f"not found on Fly: {message}", **kwargs)
    if status in (409, 412):
        return FlyConflict(f"Fly refused in the machine's current state: {message}", **kwargs)
    if status in (400, 422):
        return FlyBadRequest(f"Fly rejected the request: {message}", **kwargs)
    if status == 425:  # Too Early: the same request later may pass
        return FlyTransientError(f"Fly answered {status}: {message}", **kwargs)
    return FlyPermanentError(f"Fly answered {status}: {message}", **kwargs)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:300]
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase or "no message"
