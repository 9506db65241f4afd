"""Signup, login, token refresh and the current user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status

from api.authlimits import client_address
from api.deps import CurrentUser, Db, State
from api.passwords import hash_password, needs_rehash, verify_password
from api.problems import ProblemError, problem_responses
from api.tokens import InvalidToken
from contracts.api import LoginRequest, RefreshRequest, SignupRequest, SignupResponse, TokenPair, UserPublic
from store import users

router = APIRouter(prefix="/api/v1", tags=["auth"])


async def _token_pair(state: State, db: Db, user_id: uuid.UUID) -> TokenPair:
    access, _ = state.tokens.mint(str(user_id), "access")
    refresh, claims = state.tokens.mint(str(user_id), "refresh")
    await users.store_refresh_token(
        db, jti=uuid.UUID(claims.jti), user_id=user_id, expires_at=datetime.fromtimestamp(claims.exp, UTC)
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=state.tokens.access_ttl_s)


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupResponse,
    responses=problem_responses(400, 409, 413, 422, 429, 503),
)
async def signup(body: SignupRequest, request: Request, state: State, db: Db) -> SignupResponse:
    """Create an account. Passwords are stored only as argon2id hashes."""
    state.limits.check_signup(client_address(request))
    user_id = uuid.uuid4()
    password_hash = await hash_password(body.password)
    try:
        await users.create_user(db, user_id=user_id, email=str(body.email), password_hash=password_hash)
    except users.EmailTaken as exc:
        raise ProblemError(409, "An account with this email already exists; log in instead.") from exc
    return SignupResponse(user_id=user_id)


@router.post("/auth/login", response_model=TokenPair, responses=problem_responses(400, 401, 413, 422, 429, 503))
async def login(body: LoginRequest, request: Request, state: State, db: Db) -> TokenPair:
    """Exchange email and password for an access token and a refresh token."""
    state.limits.check_login(client_address(request), str(body.email))
    user = await users.user_by_email(db, str(body.email))
    if not await verify_password(user.password_hash if user else None, body.password) or user is None:
        raise ProblemError(401, "Wrong email or password.", headers={"WWW-Authenticate": "Bearer"})
    if needs_rehash(user.password_hash):
        await users.update_password_hash(db, user.id, await hash_password(body.password))
    return await _token_pair(state, db, user.id)


@router.post("/auth/refresh", response_model=TokenPair, responses=problem_responses(400, 401, 413, 422, 503))
async def refresh(body: RefreshRequest, state: State, db: Db) -> TokenPair:
    """Trade a refresh token (usable once) for a new token pair."""
    try:
        claims = state.tokens.verify(body.refresh_token, "refresh")
        user_id, jti = uuid.UUID(claims.sub), uuid.UUID(claims.jti)
    except (InvalidToken, ValueError) as exc:
        raise ProblemError(401, "The refresh token is invalid or expired; log in again.") from exc
    async with db.acquire() as conn, conn.transaction():
        outcome = await users.use_refresh_token(conn, jti=jti, user_id=user_id, now=datetime.now(UTC))
    if outcome == "reused":
        # the burn must stop this replica's access tokens now; other replicas hear of it from
        # Postgres (NOTIFY user_changed, api/userevents.py), or within their cache's TTL (5 s)
        state.users.forget(user_id)
    if outcome != "ok":
        detail = (
            "This refresh token was already used; every session was signed out for safety. Log in again."
            if outcome == "reused"
            else "The refresh token is invalid or expired; log in again."
        )
        raise ProblemError(401, detail)
    return await _token_pair(state, db, user_id)


@router.get("/me", response_model=UserPublic, responses=problem_responses(401, 503))
async def me(user: CurrentUser) -> UserPublic:
    """The account the access token belongs to."""
    return UserPublic(id=user.id, email=user.email, tier=user.tier, created_at=user.created_at)
