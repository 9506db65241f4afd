"""The control plane's API as the web app uses it, on behalf of one browser session.

The web app is a client of the API like the agent and the CLI: it never touches the
database. Failures surface as two errors: :class:`ApiUnreachable` (no answer, timeouts, 5xx:
the page says the service is unavailable and retries) and :class:`ApiRejected` (4xx: the
problem document's words and per-field errors, shown next to the field).

Tokens are refreshed transparently on a 401, under the session's lock: two pages of one
browser refreshing at once would present the same refresh token twice, which the API
treats as theft and answers by signing every session out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from web.sessions import WebSession


class ApiError(Exception):
    pass


class ApiUnreachable(ApiError):
    """No answer or a server error: the API is down for now."""


class ApiRejected(ApiError):
    """A 4xx answer; ``detail`` explains it, ``errors`` name fields (``field``, ``msg``)."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.errors = errors or []


class SessionEnded(ApiRejected):
    """The login is over (logout, expiry, or the API signed the user out)."""

    def __init__(self, detail: str = "Your session ended; log in again.") -> None:
        super().__init__(401, detail)


def when(value: object) -> datetime | None:
    """A timestamp as the API sends it (ISO 8601 text), for the formatters; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def problem(response: httpx.Response) -> ApiRejected:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = body.get("errors") if isinstance(body.get("errors"), list) else None
    return ApiRejected(
        response.status_code, str(body.get("detail") or body.get("title") or response.reason_phrase), errors
    )


async def public_call(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An unauthenticated call (login, signup, status)."""
    response = await public_call_raw(http, method, path, **kwargs)
    if response.status_code >= 500:
        raise ApiUnreachable(f"{response.status_code} from {path}")
    if response.status_code >= 400:
        raise problem(response)
    return response


class UserApi:
    """The API calls a logged-in page makes, as ``session``'s user."""

    def __init__(self, http: httpx.AsyncClient, session: WebSession, *, client_ip: str | None = None) -> None:
        self._http = http
        self.session = session
        self._forwarded = {"X-Forwarded-For": client_ip} if client_ip else {}

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._forwarded, **(kwargs.pop("headers", None) or {})}
        for attempt in (1, 2):
            if self.session.ended:
                raise SessionEnded()
            token = self.session.access_token
            response = await public_call_raw(
                self._http, method, path, headers={**headers, "Authorization": f"Bearer {token}"}, **kwargs
            )
            if response.status_code == 401 and attempt == 1:
                await self._refresh(token)
                continue
            if response.status_code == 401:
                self.session.end()
                raise SessionEnded()
            if response.status_code >= 500:
                raise ApiUnreachable(f"{response.status_code} from {path}")
            if response.status_code >= 400:
                raise problem(response)
            return response
        raise SessionEnded()  # pragma: no cover - the loop returns or raises

    async def _refresh(self, stale_access: str) -> None:
        async with self.session.refresh_lock:
            if self.session.access_token != stale_access:
                return  # another page refreshed while this one waited
            response = await public_call_raw(
                self._http,
                "POST",
                "/api/v1/auth/refresh",
                json={"refresh_token": self.session.refresh_token},
                headers=self._forwarded,
            )
            if response.status_code >= 500:
                raise ApiUnreachable(f"{response.status_code} from /api/v1/auth/refresh")
            if response.status_code != 200:
                self.session.end()
                raise SessionEnded()
            pair = response.json()
            self.session.with_tokens(pair["access_token"], pair["refresh_token"])

    async def get(self, path: str, **params: Any) -> Any:
        return (await self._request("GET", path, params=params or None)).json()

    async def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None, **params: Any) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = await self._request("POST", path, json=body, headers=headers, params=params or None)
        return response.json() if response.content else {}

    async def delete(self, path: str) -> Any:
        response = await self._request("DELETE", path)
        return response.json() if response.content else {}

    # ---- what the pages ask -------------------------------------------------------------
    async def me(self) -> dict[str, Any]:
        return dict(await self.get("/api/v1/me"))

    async def bots(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/v1/bots"))["bots"])

    async def bot(self, bot_id: str) -> dict[str, Any]:
        return dict(await self.get(f"/api/v1/bots/{bot_id}"))

    async def audit(self, bot_id: str, *, after: int = 0, limit: int = 500) -> dict[str, Any]:
        return dict(await self.get(f"/api/v1/bots/{bot_id}/audit", after=after, limit=limit))

    async def lifecycle(self, bot_id: str, action: str) -> dict[str, Any]:
        if action == "delete":
            return dict(await self.delete(f"/api/v1/bots/{bot_id}"))
        return dict(await self.post(f"/api/v1/bots/{bot_id}/{action}"))

    async def rearm(self, bot_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Ask a halted bot to trade again (``POST /bots/{id}/rearm``); 409 names why it cannot help."""
        return dict(await self.post(f"/api/v1/bots/{bot_id}/rearm", idempotency_key=idempotency_key))

    async def create_bot(self, profile: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return dict(await self.post("/api/v1/bots", profile, idempotency_key=idempotency_key))

    async def validate_step(self, step: int, section: dict[str, Any]) -> list[dict[str, Any]]:
        """The API's verdict on one wizard step: ``[]`` when valid, else its field errors."""
        try:
            await self.post("/api/v1/bots/validate", section, step=step)
        except ApiRejected as exc:
            if exc.status == 422:
                return exc.errors or [{"field": "step", "msg": exc.detail}]
            raise
        return []

    async def connections(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/v1/brokers"))["connections"])

    async def notification_channels(self) -> list[dict[str, Any]]:
        return list((await self.get("/api/v1/notification-channels"))["channels"])

    async def connect_broker(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return dict(await self.post("/api/v1/brokers", body, idempotency_key=idempotency_key))

    async def revoke_broker(self, connection_id: str) -> None:
        await self.delete(f"/api/v1/brokers/{connection_id}")

    async def billing(self) -> dict[str, Any]:
        return dict(await self.get("/api/v1/billing"))

    async def checkout(self, plan: str, *, idempotency_key: str) -> str:
        return str(
            (await self.post("/api/v1/billing/checkout", {"plan": plan}, idempotency_key=idempotency_key))["url"]
        )

    async def credits(self) -> list[dict[str, Any]]:
        """Service credits for incidents, newest first (``GET /api/v1/billing/credits``)."""
        return list((await self.get("/api/v1/billing/credits"))["credits"])

    async def portal(self) -> str:
        return str((await self.post("/api/v1/billing/portal"))["url"])


async def public_call_raw(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return await http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise ApiUnreachable(f"{type(exc).__name__}: {exc}") from exc
