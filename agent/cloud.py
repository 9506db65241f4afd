"""The cloud API as the agent uses it: login, bot list, create, delete, step validation, plan, audit.

An adapter over an injected ``httpx.AsyncClient``. Failures surface as two errors:
``CloudUnreachable`` (network, timeouts, 5xx: try again later, quietly) and
``CloudRejected`` (4xx: the message says what was wrong). Tokens are refreshed once on 401.

A refresh token is usable once, and the cloud signs every session out when one is used twice.
Several clients of one login (the sync loop, the wizard, the Cloud page) must therefore not
refresh on their own: their owner passes ``refresher``, which serialises refreshes of the login
and hands the tokens it got to every client (see ``CloudSync.refreshed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from agent.tokens import CachedLogin


class CloudError(Exception):
    pass


class CloudUnreachable(CloudError):
    """No answer, or a server error: the cloud is down for now."""


class CloudRejected(CloudError):
    """The cloud answered with a 4xx; ``detail`` is its problem document's explanation."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.errors = errors or []


Refresher = Callable[[CachedLogin, Callable[[CachedLogin], Awaitable[CachedLogin]]], Awaitable[CachedLogin]]
"""``(stale login, refresh) -> usable login``: calls ``refresh`` only if no one refreshed ``stale`` yet."""


class CloudClient:
    def __init__(
        self, http: httpx.AsyncClient, login: CachedLogin | None = None, *, refresher: Refresher | None = None
    ) -> None:
        self._http = http
        self.login_state = login
        self._refresher = refresher

    async def _request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            headers = dict(kwargs.pop("headers", {}) or {})
            if auth:
                if self.login_state is None:
                    raise CloudRejected(401, "not logged in: run `hmmtrade login`")
                headers["Authorization"] = f"Bearer {self.login_state.access_token}"
            try:
                response = await self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                raise CloudUnreachable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and auth and attempt == 1 and self.login_state is not None:
                await self._refresh()
                continue
            if response.status_code >= 500:
                raise CloudUnreachable(f"{response.status_code} from {path}")
            if response.status_code >= 400:
                body = _json(response)
                raise CloudRejected(
                    response.status_code,
                    str(body.get("detail") or body.get("title") or response.text),
                    body.get("errors"),
                )
            return response
        raise CloudRejected(401, "the login expired: run `hmmtrade login` again")

    async def _refresh(self) -> None:
        assert self.login_state is not None
        if self._refresher is None:
            self.login_state = await self._trade(self.login_state)
        else:
            self.login_state = await self._refresher(self.login_state, self._trade)

    async def _trade(self, login: CachedLogin) -> CachedLogin:
        """Spend ``login``'s refresh token on a new token pair."""
        try:
            response = await self._http.post("/api/v1/auth/refresh", json={"refresh_token": login.refresh_token})
        except httpx.TransportError as exc:
            raise CloudUnreachable(str(exc)) from exc
        if response.status_code != 200:
            raise CloudRejected(401, "the login expired: run `hmmtrade login` again")
        pair = response.json()
        return login.with_tokens(pair["access_token"], pair["refresh_token"])

    async def login(self, email: str, password: str) -> dict[str, Any]:
        response = await self._request(
            "POST", "/api/v1/auth/login", auth=False, json={"email": email, "password": password}
        )
        return dict(response.json())

    async def list_bots(self) -> list[dict[str, Any]]:
        return list((await self._request("GET", "/api/v1/bots")).json()["bots"])

    async def create_bot(self, profile: dict[str, Any], *, idempotency_key: str) -> str:
        response = await self._request(
            "POST", "/api/v1/bots", json=profile, headers={"Idempotency-Key": idempotency_key}
        )
        return str(response.json()["bot_id"])

    async def delete_bot(self, bot_id: str) -> None:
        try:
            await self._request("DELETE", f"/api/v1/bots/{bot_id}")
        except CloudRejected as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    async def validate_step(self, step: int, section: dict[str, Any]) -> list[dict[str, Any]]:
        """The cloud's verdict on one wizard step: ``[]`` when valid, else its field errors."""
        try:
            await self._request("POST", "/api/v1/bots/validate", auth=False, params={"step": step}, json=section)
        except CloudRejected as exc:
            if exc.status == 422:
                return exc.errors or [{"field": "body", "msg": exc.detail}]
            raise
        return []

    async def connections(self) -> list[dict[str, Any]]:
        """The account's active broker connections (kind, label, paper, exchange; never secrets)."""
        return list((await self._request("GET", "/api/v1/brokers")).json()["connections"])

    async def notification_channels(self) -> list[dict[str, Any]]:
        """The account's notification channels (kind, label, target; never secrets)."""
        return list((await self._request("GET", "/api/v1/notification-channels")).json()["channels"])

    async def billing(self) -> dict[str, Any]:
        """The account's plan, its limits and what is used of them (``GET /api/v1/billing``)."""
        return dict((await self._request("GET", "/api/v1/billing")).json())

    async def audit(self, bot_id: str, *, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        response = await self._request("GET", f"/api/v1/bots/{bot_id}/audit", params={"after": after, "limit": limit})
        return list(response.json()["records"])


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
