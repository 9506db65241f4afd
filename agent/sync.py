"""Two-way sync of bot profiles between this agent and the cloud, with a 24 h offline grace.

Each pass (every ``interval``): local bots the cloud has not seen are created there
(idempotency key = the local bot id, so a retried pass creates one bot); cloud bots whose
surface is ``local`` and that this machine lacks are written as instance files; a bot
deleted on one side is deleted on the other. Links live in ``HOME/state/cloud-sync.json``.

When the cloud does not answer, the pass fails quietly (bots keep trading; they never
depend on the cloud). Once 24 h have passed since the last successful contact, syncing
stops and the dashboard asks the user to log in again; a new login resumes it.

The cached login is shared: the background loop, the Cloud page's "Log in" and "Sync now", the
wizard and ``hmmtrade login`` all read or replace it. So passes run one at a time, a pass whose
login was replaced while it ran (a new login, another account) leaves the store and the status
to the new login instead of writing its own back, and token refreshes go through ``refreshed``:
one at a time, each spending a refresh token no one else has spent (the cloud signs every
session out when a refresh token is used twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import structlog

from agent.cloud import CloudClient, CloudRejected, CloudUnreachable
from agent.home import AgentHome
from agent.instances import list_instances, write_instance
from agent.tokens import CachedLogin, TokenStore
from contracts.profile import BotProfile

log = structlog.get_logger(__name__)

GRACE = timedelta(hours=24)
SyncStatus = Literal["logged_out", "online", "offline", "reconnect"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncLinks:
    """local bot id -> cloud bot id; cloud ids seen in a list; cloud ids deleted from here (never pulled back)."""

    links: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    tombstones: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, home: AgentHome) -> SyncLinks:
        try:
            body = json.loads((home.state_root / "cloud-sync.json").read_text())
        except (OSError, ValueError):
            return cls()
        return cls(dict(body.get("links", {})), set(body.get("seen", [])), set(body.get("tombstones", [])))

    def save(self, home: AgentHome) -> None:
        path = home.state_root / "cloud-sync.json"
        tmp = path.with_name(".cloud-sync.json.tmp")
        body = {"links": self.links, "seen": sorted(self.seen), "tombstones": sorted(self.tombstones)}
        tmp.write_text(json.dumps(body, indent=1))
        tmp.replace(path)


class CloudSync:
    def __init__(
        self,
        home: AgentHome,
        store: TokenStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        http_factory: Callable[[str], httpx.AsyncClient] | None = None,
        delete_local: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.home = home
        self.store = store
        self._clock = clock
        self._http_factory = http_factory or (lambda url: httpx.AsyncClient(base_url=url, timeout=5.0))
        self._delete_local = delete_local
        self.status: SyncStatus = "logged_out"
        self.message = "not logged in: run `hmmtrade login` or use the Cloud page"
        self.cloud_bots: list[dict[str, Any]] = []
        self.last_attempt_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()

    # ---- the grace window -------------------------------------------------------------

    def grace_left(self, login: CachedLogin) -> timedelta:
        return login.last_success + GRACE - self._clock()

    def client(self, login: CachedLogin | None) -> tuple[CloudClient, httpx.AsyncClient]:
        url = login.api_url if login else ""
        http = self._http_factory(url)
        return CloudClient(http, login, refresher=self.refreshed), http

    async def refreshed(
        self, stale: CachedLogin, refresh: Callable[[CachedLogin], Awaitable[CachedLogin]]
    ) -> CachedLogin:
        """A usable login after ``stale``'s access token was refused, refreshing at most once.

        Under one lock: when the stored login already moved past ``stale`` (another client
        refreshed it, or a new login replaced it) that login is used; otherwise ``stale``'s
        refresh token is spent and the new pair stored, so the next client does not spend it again.
        (A login of another account in the store is left alone: ``stale``'s pass is then dropped.)
        """
        async with self._refresh_lock:
            current = self.store.load()
            if current is not None and _same_account(current, stale) and not _same_tokens(current, stale):
                return current
            fresh = await refresh(stale)
            if current is not None and _same_tokens(current, stale):
                self.store.save(fresh)
            return fresh

    # ---- one pass ---------------------------------------------------------------------

    async def run_once(self) -> SyncStatus:
        async with self._pass_lock:  # the loop and the Cloud page's buttons must not interleave passes
            return await self._pass()

    async def _pass(self) -> SyncStatus:
        login = self.store.load()
        self.last_attempt_at = self._clock()
        if login is None:
            self.status, self.message = "logged_out", "not logged in: run `hmmtrade login` or use the Cloud page"
            return self.status
        if self.grace_left(login) <= timedelta(0):
            self.status = "reconnect"
            self.message = (
                f"no contact with {login.api_url} since {login.last_success:%Y-%m-%d %H:%M} UTC (over 24 h): "
                "log in again to resume syncing; your local bots keep running"
            )
            return self.status
        client, http = self.client(login)
        try:
            bots = await client.list_bots()
            await self._reconcile(client, bots)
        except CloudUnreachable as exc:
            left = self.grace_left(login)
            self.status = "offline"
            self.message = (
                f"cloud unreachable ({exc}); retrying. Local bots keep running; "
                f"{left.total_seconds() / 3600:.1f} h left before you need to log in again"
            )
            log.info("sync.offline", error=str(exc))
            return self.status
        except CloudRejected as exc:
            if _replaced(self.store.load(), login, client.login_state):
                return self.status
            if exc.status == 401:
                self.status, self.message = "reconnect", "the cloud no longer accepts this login: log in again"
                return self.status
            self.status, self.message = "online", f"sync incomplete: {exc.detail}"
            log.warning("sync.rejected", error=str(exc))
        else:
            if _replaced(self.store.load(), login, client.login_state):
                # a new login arrived while this pass ran: writing this one back would undo it
                log.info("sync.login_replaced", email=login.email)
                return self.status
            self.status, self.message = "online", f"synced with {login.api_url} as {login.email}"
        finally:
            await http.aclose()
        # tokens may have been refreshed; the cloud answered, so the grace restarts now
        refreshed = client.login_state or login
        self.store.save(refreshed.with_success(self._clock()))
        return self.status

    async def _reconcile(self, client: CloudClient, bots: list[dict[str, Any]]) -> None:
        self.cloud_bots = bots
        links = SyncLinks.load(self.home)
        in_cloud = {b["id"]: b for b in bots}
        local, _errors = list_instances(self.home)
        local_ids = {i.bot_id for i in local}
        for cloud_id in sorted(links.tombstones & in_cloud.keys()):  # deleted here: delete there (again if needed)
            await client.delete_bot(cloud_id)
            in_cloud.pop(cloud_id)
        # cloud -> local: bots that run on this agent, and deletions made in the cloud
        for cloud_id, bot in in_cloud.items():
            links.seen.add(cloud_id)
            if (
                bot["profile"]["basics"]["surface"] != "local"
                or cloud_id in links.links.values()
                or cloud_id in links.tombstones
            ):
                continue
            write_instance(self.home, BotProfile.model_validate(bot["profile"]), bot_id=cloud_id)
            links.links[cloud_id] = cloud_id
            log.info("sync.pulled", bot_id=cloud_id)
        for local_id, cloud_id in list(links.links.items()):
            if cloud_id in links.seen and cloud_id not in in_cloud:
                links.links.pop(local_id)
                links.seen.discard(cloud_id)
                if local_id in local_ids and self._delete_local is not None:
                    await self._delete_local(local_id)
                    log.info("sync.deleted_locally", bot_id=local_id)
        # local -> cloud
        for instance in local:
            if instance.bot_id in links.links:
                continue
            body = instance.profile.model_dump(mode="json", exclude_none=True)
            cloud_id = await client.create_bot(body, idempotency_key=f"agent-sync:{instance.bot_id}")
            links.links[instance.bot_id] = cloud_id
            log.info("sync.pushed", bot_id=instance.bot_id, cloud_id=cloud_id)
        links.save(self.home)

    def forget_local(self, bot_id: str) -> None:
        """A local bot was deleted: delete its cloud twin on the next pass."""
        links = SyncLinks.load(self.home)
        cloud_id = links.links.pop(bot_id, None)
        if cloud_id is not None:
            links.tombstones.add(cloud_id)
            links.save(self.home)

    # ---- login and the background loop --------------------------------------------------

    async def login(self, api_url: str, email: str, password: str) -> CachedLogin:
        client, http = self.client(CachedLogin(api_url, email, "", "", self._clock().isoformat()))
        try:
            pair = await client.login(email, password)
        finally:
            await http.aclose()
        login = CachedLogin(api_url, email, pair["access_token"], pair["refresh_token"], self._clock().isoformat())
        self.store.save(login)
        return login

    async def start(self, interval_s: float = 10.0) -> None:
        self._task = asyncio.create_task(self._loop(interval_s), name="cloud-sync")

    async def _loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("sync.pass_failed")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _same_account(a: CachedLogin, b: CachedLogin) -> bool:
    return a.api_url == b.api_url and a.email.lower() == b.email.lower()


def _same_tokens(a: CachedLogin, b: CachedLogin) -> bool:
    return a.api_url == b.api_url and a.refresh_token == b.refresh_token


def _replaced(stored: CachedLogin | None, started_with: CachedLogin, now_holding: CachedLogin | None) -> bool:
    """Whether the stored login is no longer the one a pass started with (or refreshed it into)."""
    if stored is None:
        return True  # logged out meanwhile
    return not any(held is not None and _same_tokens(stored, held) for held in (started_with, now_holding))
