"""Broker connections: connect (sealed in the request), list (no secrets), revoke.

The credentials are encrypted before anything leaves this process: the intent on the
bus and the row a worker writes carry only the envelope. Revocation destroys the
wrapped data key (crypto-shredding).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, status

from api.acceptlog import AcceptedIntent
from api.broker_secrets import seal_credentials
from api.deps import CurrentUser, Db, State
from api.problems import ProblemError, problem_responses
from api.routes.bots import IdempotencyKey, _correlation, _derived_id
from api.security import Security
from api.state import ApiState
from contracts.api import IntentAccepted
from contracts.brokers import (
    AlpacaConnectionCreate,
    BrokerConnectionAccepted,
    BrokerConnectionCreate,
    BrokerConnectionList,
    BrokerConnectionPublic,
    ExchangeConnectionCreate,
    PaperConnectionCreate,
    reveal,
)
from contracts.intents import ConnectBroker, RevokeBroker
from events.bus import BusUnavailable
from events.topology import intent_subject
from metrics import observe
from store import connections
from store.connections import ConnectionRow

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/brokers", tags=["brokers"])


def public(row: ConnectionRow) -> BrokerConnectionPublic:
    return BrokerConnectionPublic(
        id=row.id,
        kind=row.kind,
        label=row.label,
        paper=row.paper,
        exchange=row.exchange,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def venue_facts(
    body: PaperConnectionCreate | AlpacaConnectionCreate | ExchangeConnectionCreate,
) -> tuple[bool, str | None]:
    """(paper account?, ccxt exchange id) of a connection being made."""
    if isinstance(body, AlpacaConnectionCreate):
        return body.credentials.paper, None
    if isinstance(body, ExchangeConnectionCreate):
        return body.credentials.sandbox, body.credentials.exchange
    return True, None


async def _submit(state: ApiState, intent: ConnectBroker | RevokeBroker) -> None:
    structlog.contextvars.bind_contextvars(intent_id=intent.id, connection_id=str(intent.connection_id))
    try:
        await state.bus.publish(intent_subject(intent.type), intent)
    except BusUnavailable as exc:
        log.warning("intent.not_published", kind=intent.type, error=str(exc))
        raise ProblemError(
            503,
            "The message bus is unavailable, so nothing was changed. Try again shortly.",
            headers={"Retry-After": "2"},
        ) from exc
    try:
        await state.accept_log.record(
            AcceptedIntent(intent_id=intent.id, user_id=intent.user_id, kind=intent.type, bot_id=None)
        )
    except Exception as exc:  # noqa: BLE001 - the intent is stored on the bus; the worker records its outcome
        log.warning("intent.accept_not_recorded", error=str(exc))
    observe.intent_accepted(intent.type)
    log.info("intent.accepted", kind=intent.type)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BrokerConnectionAccepted,
    responses=problem_responses(400, 401, 413, 422, 503),
)
async def connect_broker(
    body: Annotated[BrokerConnectionCreate, Body()],
    user: CurrentUser,
    state: State,
    security: Security,
    idempotency_key: IdempotencyKey = None,
) -> BrokerConnectionAccepted:
    """Connect a broker: `paper` (no credentials), `alpaca` (`api_key_id`, `api_secret_key`, `paper`),
    or `exchange` (`exchange`, `api_key`, `api_secret`, optional `passphrase`). The connection
    is listed once the intent is done; its secrets are never shown again."""
    connection_id = _derived_id(user, idempotency_key, "broker-connection")
    # the non-secret facts, taken before sealing: they are stored in the clear so a bot's mode
    # can be checked against the account without decrypting anything
    paper, exchange = venue_facts(body)
    sealed = None
    if body.kind != "paper":
        sealed = await seal_credentials(
            security, reveal(body.credentials), user_id=user.id, connection_id=connection_id
        )
    fields: dict[str, Any] = {
        "id": str(_derived_id(user, idempotency_key, "broker-connect-intent")),
        "user_id": user.id,
        "connection_id": connection_id,
        "kind": body.kind,
        "label": body.label,
        "sealed": sealed,
        "paper": paper,
        "exchange": exchange,
    }
    intent = ConnectBroker(**_correlation(fields))
    await _submit(state, intent)
    return BrokerConnectionAccepted(connection_id=connection_id, intent_id=intent.id)


@router.get("", response_model=BrokerConnectionList, responses=problem_responses(401, 503))
async def list_brokers(user: CurrentUser, db: Db) -> BrokerConnectionList:
    """Your active broker connections: kind, label, created and last-used times. Never secrets."""
    return BrokerConnectionList(connections=[public(r) for r in await connections.list_connections(db, user.id)])


@router.delete(
    "/{connection_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntentAccepted,
    responses=problem_responses(401, 404, 422, 503),
)
async def revoke_broker(
    connection_id: uuid.UUID, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> IntentAccepted:
    """Revoke a connection: its wrapped key is destroyed, so its secret can never be decrypted again."""
    row = await connections.get_connection(db, connection_id, user_id=user.id)
    if row is None or row.status != "active":
        raise ProblemError(404, f"No broker connection {connection_id} in your account.")
    intent = RevokeBroker(
        **_correlation(
            {
                "id": str(_derived_id(user, idempotency_key, f"broker-revoke:{connection_id}")),
                "user_id": user.id,
                "connection_id": connection_id,
            }
        )
    )
    await _submit(state, intent)
    return IntentAccepted(intent_id=intent.id)
