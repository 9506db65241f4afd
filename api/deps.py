"""``Annotated`` dependencies that keep route signatures readable."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.db_outage import database_unavailable
from api.problems import ProblemError
from api.state import ApiState, DatabaseUnavailable
from api.tokens import InvalidToken
from store.users import UserRow, user_by_id


async def get_state(request: Request) -> ApiState:  # async: a sync dependency costs a thread hop
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


async def get_db(state: State) -> Any:
    state.db_breaker.check()  # an outage was just met: refuse now rather than wait out a timeout
    try:
        return await state.pool()
    except DatabaseUnavailable as exc:
        state.db_breaker.trip()
        raise database_unavailable() from exc


Db = Annotated[asyncpg.Pool, Depends(get_db)]


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login.")


async def get_current_user(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> UserRow:
    """The caller, from the token and the user row (cached 5 s: a cached caller needs no database)."""
    unauthorized = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "Send an access token as 'Authorization: Bearer <token>'.", headers=unauthorized)
    try:
        claims = state.tokens.verify(credentials.credentials, "access")
        user_id = uuid.UUID(claims.sub)
    except (InvalidToken, ValueError) as exc:
        raise ProblemError(401, "The access token is invalid or expired; log in again.", headers=unauthorized) from exc
    user = state.users.get(user_id)
    if user is None:
        epoch = state.users.epoch
        user = await user_by_id(await get_db(state), user_id)
        if user is None:
            raise ProblemError(401, "The account no longer exists.", headers=unauthorized)
        state.users.put(user, read_at_epoch=epoch)
    if user.tokens_valid_after is not None and claims.iat < user.tokens_valid_after.timestamp():
        raise ProblemError(
            401,
            "This session was signed out because a refresh token was used twice; log in again.",
            headers=unauthorized,
        )
    return user


CurrentUser = Annotated[UserRow, Depends(get_current_user)]


async def get_optional_user(request: Request, state: State) -> UserRow | None:
    """The caller when a bearer token is sent (checked as strictly as ``CurrentUser``), else None.

    The header is read directly, not through a security scheme: the route stays documented as
    open (anonymous calls succeed), and anonymous requests touch no database.
    """
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
    return await get_current_user(state, credentials)


OptionalUser = Annotated[UserRow | None, Depends(get_optional_user)]
