"""Notification channels: create (sealed in the request), list (no secrets), delete.

Unlike a broker connection, a channel is written by the API itself rather than through an
intent: it has no side effect outside our database, and a webhook's signing secret must be
shown in the answer to the create, which an asynchronous intent could not do. The secret
parts (a webhook's URL and signing secret, a Telegram bot token) are sealed by the vault
before the row is written; deleting a channel overwrites them.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Response, status

from api.deps import CurrentUser, Db
from api.problems import ProblemError, problem_responses
from api.security import Security
from contracts.notify import (
    EmailChannelCreate,
    NotificationChannelCreate,
    NotificationChannelCreated,
    NotificationChannelList,
    NotificationChannelPublic,
    TelegramChannelCreate,
    WebhookChannelCreate,
)
from contracts.profile import BotProfile
from contracts.venue_rules import FieldProblem
from notify.sealing import seal_channel
from notify.signing import new_signing_secret
from store import notifications
from store.notifications import ChannelRow
from vault.errors import KmsRejected, KmsUnavailable

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/notification-channels", tags=["notifications"])

MAX_CHANNELS_PER_USER = 20
_RETRY = {"Retry-After": "5"}


def public(row: ChannelRow) -> NotificationChannelPublic:
    return NotificationChannelPublic(
        id=row.id,
        kind=row.kind,
        label=row.label,
        target=row.target,
        created_at=row.created_at,
    )


def webhook_url_problem(url: str, *, production: bool) -> str | None:
    """Why a webhook URL is refused, or None. In production: https only, and never an address
    inside our own network (the notifier must not be a way to reach it)."""
    if not production:
        return None
    scheme, _, rest = url.partition("://")
    if scheme != "https":
        return "a webhook URL must start with https://"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        return "a webhook URL must be reachable on the internet, not a local name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return "a webhook URL must be reachable on the internet, not a private or loopback address"
    return None


def _config(body: WebhookChannelCreate | EmailChannelCreate | TelegramChannelCreate) -> tuple[dict[str, Any], str]:
    """(what is sealed, what is shown in lists)."""
    if isinstance(body, WebhookChannelCreate):
        return {"url": str(body.url), "signing_secret": new_signing_secret()}, body.url.host or ""
    if isinstance(body, TelegramChannelCreate):
        return {"chat_id": body.chat_id, "bot_token": body.bot_token.get_secret_value()}, body.chat_id
    return {"to": str(body.to)}, str(body.to)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationChannelCreated,
    responses=problem_responses(400, 401, 409, 413, 422, 503),
)
async def create_channel(
    body: Annotated[NotificationChannelCreate, Body()], user: CurrentUser, db: Db, security: Security
) -> NotificationChannelCreated:
    """Make a channel: `webhook` (`url`; the answer holds its signing secret, shown this once),
    `email` (`to`) or `telegram` (`chat_id`, `bot_token` from @BotFather). Name its id in a bot's
    step 6 (`schedule.notify.channels`) to be told about that bot."""
    if isinstance(body, WebhookChannelCreate):
        problem = webhook_url_problem(str(body.url), production=security.settings.environment == "production")
        if problem is not None:
            raise ProblemError(
                422,
                f"Invalid value for: url. {problem}.",
                errors=[{"loc": ["body", "url"], "field": "url", "msg": problem, "type": "value_error"}],
            )
    if len(await notifications.list_channels(db, user.id)) >= MAX_CHANNELS_PER_USER:
        raise ProblemError(409, f"You have {MAX_CHANNELS_PER_USER} channels, the most allowed: delete one first.")
    channel_id = uuid.uuid4()
    config, target = _config(body)
    try:
        sealed = await seal_channel(security.kms, security.kms_key_name, config, user_id=user.id, channel_id=channel_id)
    except (KmsUnavailable, KmsRejected) as exc:
        log.warning("vault.kms_unavailable", operation="encrypt", error=str(exc))
        raise ProblemError(
            503,
            "The key management service is unavailable, so the channel was not saved. Try again shortly.",
            headers=_RETRY,
        ) from None
    row = await notifications.insert_channel(
        db, channel_id=channel_id, user_id=user.id, kind=body.kind, label=body.label, target=target, sealed=sealed
    )
    log.info("notify.channel_created", channel_id=str(channel_id), kind=body.kind)
    return NotificationChannelCreated(
        **public(row).model_dump(), signing_secret=config.get("signing_secret") if body.kind == "webhook" else None
    )


@router.get("", response_model=NotificationChannelList, responses=problem_responses(401, 503))
async def list_channels(user: CurrentUser, db: Db) -> NotificationChannelList:
    """Your channels: kind, label and where they go (a webhook's host only). Never a secret."""
    return NotificationChannelList(channels=[public(r) for r in await notifications.list_channels(db, user.id)])


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 404, 422, 503))
async def delete_channel(channel_id: uuid.UUID, user: CurrentUser, db: Db) -> Response:
    """Delete a channel: its secret is overwritten, and notifications still queued for it are dropped."""
    if not await notifications.delete_channel(db, channel_id, user_id=user.id):
        raise ProblemError(404, f"No notification channel {channel_id} in your account.")
    log.info("notify.channel_deleted", channel_id=str(channel_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def channel_problems(db: Any, user_id: uuid.UUID, profile: BotProfile) -> list[FieldProblem]:
    """A bot's step 6 may only name the user's own live channels."""
    wanted = profile.schedule.notify.channels
    if not wanted:
        return []
    owned = {row.id for row in await notifications.channels_of(db, user_id, wanted)}
    missing = [str(c) for c in wanted if c not in owned]
    if not missing:
        return []
    return [
        FieldProblem(
            "schedule.notify.channels",
            f"no notification channel {', '.join(missing)} in your account: pick one of yours "
            "(GET /api/v1/notification-channels) or create one first",
        )
    ]
