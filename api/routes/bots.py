"""Bots: create through the wizard, list, read, start, stop, delete, and their audit trail.

Mutations publish an intent and answer 202 once JetStream has stored it; a worker does
the rest. An ``Idempotency-Key`` header makes a retried request publish the same
intent (same ids), so it is carried out once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Header, Query, status
from pydantic import ValidationError

from api.acceptlog import AcceptedIntent
from api.deps import CurrentUser, Db, OptionalUser, State, get_db
from api.limits import enforce_create, enforce_start
from api.problems import ProblemError, problem_responses
from api.routes.notifications import channel_problems
from api.state import ApiState
from api.venue_checks import connection_problems, paper_connection_problems, profile_problems, refuse
from contracts.api import (
    AuditEntry,
    AuditPage,
    BotAccepted,
    BotList,
    BotPublic,
    BotRisk,
    IntentAccepted,
    StepValidation,
)
from contracts.intents import CreateBot, DeleteBot, RearmBot, StartBot, StopBot
from contracts.profile import WIZARD_STEPS, BotProfile
from events.bus import BusUnavailable
from events.topology import intent_subject
from metrics import observe
from store import audit, bots, connections
from store.bots import BotRow
from store.users import UserRow

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/bots", tags=["bots"])

_IDEMPOTENCY_NS = uuid.UUID("6f1c2a4e-1d7b-4c0e-9a51-3b8e2f9d7c10")
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string; a retry with the same key is carried out once.",
    ),
]


def _derived_id(user: UserRow, key: str | None, purpose: str) -> uuid.UUID:
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NS, f"{user.id}:{key}:{purpose}")


async def submit_intent(state: ApiState, intent: CreateBot | StartBot | StopBot | DeleteBot | RearmBot) -> None:
    """Publish an intent and record it as accepted. 503 if the bus did not store it."""
    structlog.contextvars.bind_contextvars(intent_id=intent.id, bot_id=str(intent.bot_id))
    backlog = await state.backlog.current()
    if backlog is not None and backlog.over_limit:
        log.warning("intent.refused_backlog", kind=intent.type, backlog=backlog.total, limit=backlog.limit)
        raise ProblemError(
            503,
            f"{backlog.total} bot changes are waiting to be carried out (the limit is {backlog.limit}), "
            "so this one was not accepted and nothing was changed. Try again after the Retry-After delay.",
            headers={"Retry-After": str(backlog.retry_after_s())},
        )
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
            AcceptedIntent(intent_id=intent.id, user_id=intent.user_id, kind=intent.type, bot_id=intent.bot_id)
        )
    except Exception as exc:  # noqa: BLE001 - the intent is stored on the bus; the worker records its outcome
        log.warning("intent.accept_not_recorded", error=str(exc))
    observe.intent_accepted(intent.type)
    log.info("intent.accepted", kind=intent.type)


def _correlation(intent_fields: dict[str, Any]) -> dict[str, Any]:
    ctx = structlog.contextvars.get_contextvars()
    if "correlation_id" in ctx:
        intent_fields["correlation_id"] = ctx["correlation_id"]
    return intent_fields


async def _owned_bot(db: Any, user: UserRow, bot_id: uuid.UUID, *, allow_deleted: bool = False) -> BotRow:
    bot = await bots.get_bot(db, bot_id, user_id=user.id)
    if bot is None or (bot.status == "deleted" and not allow_deleted):
        raise ProblemError(404, f"No bot {bot_id} in your account.")
    return bot


def _public(bot: BotRow, kinds: dict[uuid.UUID, str], risks: dict[uuid.UUID, audit.RiskState]) -> BotPublic:
    profile = BotProfile.model_validate(bot.profile)
    reference = profile.broker.connection
    return BotPublic(
        id=bot.id,
        name=bot.name,
        status=bot.status,
        surface=bot.surface,
        mode=bot.mode,
        connection_kind="paper" if reference == "paper" else kinds.get(uuid.UUID(reference)),
        profile=profile,
        status_reason=bot.status_reason,
        risk=BotRisk(**vars(risks[bot.id])) if bot.id in risks else None,
        machine_id=bot.machine_id,
        created_at=bot.created_at,
        updated_at=bot.updated_at,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BotAccepted,
    responses=problem_responses(400, 401, 403, 413, 422, 503),
)
async def create_bot(
    profile: BotProfile, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> BotAccepted:
    """Create a bot from a complete wizard profile. The bot appears once the intent is done.

    The profile's broker connection must be one of yours and fit the bot: a live bot needs a live
    account (and `basics.live_confirmation`), a paper bot a paper one; `data_source: broker` needs an
    Alpaca or exchange connection; an exchange connection trades crypto only."""
    problems = await profile_problems(db, user.id, profile) + await channel_problems(db, user.id, profile)
    if problems:
        raise refuse(problems)
    intent = CreateBot(
        **_correlation(
            {
                "id": str(_derived_id(user, idempotency_key, "intent")),
                "user_id": user.id,
                "bot_id": _derived_id(user, idempotency_key, "bot"),
                "profile": profile,
            }
        )
    )
    # plan limits (403 naming plan and limit); a retried create of an existing bot passes
    await enforce_create(db, user.id, profile.basics.surface, retry_of=intent.bot_id if idempotency_key else None)
    await submit_intent(state, intent)
    return BotAccepted(bot_id=intent.bot_id, intent_id=intent.id)


def _invalid(exc: ValidationError, what: str) -> ProblemError:
    errors: list[dict[str, Any]] = [
        {
            "loc": ["body", *map(str, e["loc"])],
            "field": ".".join(map(str, e["loc"])) or "body",
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    fields = ", ".join(sorted({str(e["field"]) for e in errors}))
    return ProblemError(422, f"{what} has invalid values for: {fields}.", errors=errors)


@router.post("/validate", response_model=StepValidation, responses=problem_responses(400, 401, 413, 422, 503))
async def validate_step(
    section: Annotated[dict[str, Any], Body(description="The fields of that step, or the whole profile.")],
    user: OptionalUser,
    state: State,
    step: Annotated[
        int | None, Query(ge=1, le=6, description="Wizard step 1-6; omit to check a whole profile.")
    ] = None,
) -> StepValidation:
    """Check one wizard step on its own, or (no `step`) a whole profile as create would.

    With an access token, a broker connection id (step 2, or the whole profile) is checked against
    your connections too; a whole profile naming a connection needs the token."""
    model: type[Any] = BotProfile if step is None else WIZARD_STEPS[step]
    try:
        checked = model.model_validate(section)
    except ValidationError as exc:
        what = "The profile" if step is None else f"Step {step} ({model.__name__})"
        raise _invalid(exc, what) from None
    problems = []
    if step is None:
        if checked.broker.connection == "paper":
            problems = paper_connection_problems(checked)
        elif user is None:
            raise ProblemError(
                401,
                "Log in (send your access token) to check a profile against your broker connections.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            problems = await profile_problems(await get_db(state), user.id, checked)
    elif step == 2 and user is not None:
        problems = await connection_problems(await get_db(state), user.id, checked.connection)
    if problems:
        raise refuse(problems)
    return StepValidation(step=step or 0, section=model.__name__)


@router.get("", response_model=BotList, responses=problem_responses(401, 503))
async def list_bots(user: CurrentUser, db: Db) -> BotList:
    """Your bots, oldest first (deleted bots are left out), each with its mode and connection kind."""
    kinds = await connections.kinds_by_id(db, user.id)
    listed = await bots.list_bots(db, user.id)
    risks = await audit.latest_risks(db, [b.id for b in listed])
    return BotList(bots=[_public(b, kinds, risks) for b in listed])


@router.get("/{bot_id}", response_model=BotPublic, responses=problem_responses(401, 404, 422, 503))
async def get_bot(bot_id: uuid.UUID, user: CurrentUser, db: Db) -> BotPublic:
    """One of your bots, with its profile, mode, connection kind, status and risk state."""
    bot = await _owned_bot(db, user, bot_id, allow_deleted=True)
    return _public(bot, await connections.kinds_by_id(db, user.id), await audit.latest_risks(db, [bot.id]))


async def _lifecycle(
    intent_cls: type[StartBot | StopBot | DeleteBot],
    bot_id: uuid.UUID,
    user: UserRow,
    db: Any,
    state: ApiState,
    key: str | None,
) -> IntentAccepted:
    bot = await _owned_bot(db, user, bot_id)
    if intent_cls is StartBot:
        await enforce_start(db, user.id, bot.surface)  # hosted bots need a paid plan
    intent = intent_cls(
        **_correlation(
            {
                "id": str(_derived_id(user, key, f"{intent_cls.__name__}:{bot_id}")),
                "user_id": user.id,
                "bot_id": bot_id,
            }
        )
    )
    await submit_intent(state, intent)
    return IntentAccepted(intent_id=intent.id)


_LIFECYCLE_RESPONSES = problem_responses(401, 403, 404, 422, 503)


@router.post("/{bot_id}/start", status_code=202, response_model=IntentAccepted, responses=_LIFECYCLE_RESPONSES)
async def start_bot(
    bot_id: uuid.UUID, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> IntentAccepted:
    """Ask for the bot to start trading."""
    return await _lifecycle(StartBot, bot_id, user, db, state, idempotency_key)


@router.post("/{bot_id}/stop", status_code=202, response_model=IntentAccepted, responses=_LIFECYCLE_RESPONSES)
async def stop_bot(
    bot_id: uuid.UUID, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> IntentAccepted:
    """Ask for the bot to stop; its data is kept."""
    return await _lifecycle(StopBot, bot_id, user, db, state, idempotency_key)


@router.delete("/{bot_id}", status_code=202, response_model=IntentAccepted, responses=_LIFECYCLE_RESPONSES)
async def delete_bot(
    bot_id: uuid.UUID, user: CurrentUser, db: Db, state: State, idempotency_key: IdempotencyKey = None
) -> IntentAccepted:
    """Ask for the bot to be stopped and deleted."""
    return await _lifecycle(DeleteBot, bot_id, user, db, state, idempotency_key)


@router.get("/{bot_id}/audit", response_model=AuditPage, responses=problem_responses(401, 404, 422, 503))
async def bot_audit(
    bot_id: uuid.UUID,
    user: CurrentUser,
    db: Db,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only records with seq > after.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """The bot's decision records in seq order, a page at a time."""
    await _owned_bot(db, user, bot_id, allow_deleted=True)
    rows = await audit.page(db, bot_id, after=after, limit=limit)
    records = [AuditEntry(**vars(r)) for r in rows]
    return AuditPage(bot_id=bot_id, records=records, next_after=records[-1].seq if len(records) == limit else None)
