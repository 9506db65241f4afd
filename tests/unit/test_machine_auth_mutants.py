"""Machine-token authentication of the internal API (``api/machine_auth.py``) without Postgres.

No unit test reached it before issue 21 (only tests/integration/test_internal_api.py, too slow for
``./dev mutation``). What a bot's machine (or an attacker) would notice: a revoked or unknown token
let in, a token of one bot accepted for another, a missing or non-Bearer header answered with
something else than the one 401 with its ``WWW-Authenticate`` challenge, the refusals telling
which check failed, or the request log not naming the bot.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from api import machine_auth
from api.deps import get_db
from api.machine_auth import CurrentMachine
from api.problems import install_problem_handlers
from api.security import get_security
from vault.keys import generate_private_key_pem, key_id, load_private_key
from vault.machine_jwt import InvalidMachineToken, KeyRing, MachineTokens, RingKey

REFUSED = "The machine token is invalid, expired or revoked."
CHALLENGE = 'Bearer realm="internal"'


@dataclass
class FakeMachineTokenTable:
    """``machine_tokens`` as ``store.machine_tokens.is_live`` reads it: (jti, bot_id) -> revoked?"""

    rows: dict[tuple[uuid.UUID, uuid.UUID], bool] = field(default_factory=dict)
    queries: list[tuple[Any, ...]] = field(default_factory=list)

    async def fetchval(self, query: str, *args: Any) -> bool | None:
        self.queries.append(args)
        revoked = self.rows.get((args[0], args[1]))
        return None if revoked is None else not revoked


@dataclass
class FakeSecurity:
    machine_tokens: MachineTokens


def _machine_tokens() -> MachineTokens:
    private = load_private_key(generate_private_key_pem())
    ring = KeyRing([RingKey(key_id(private.public_key()), private, 0.0)], overlap_s=600)
    return MachineTokens(ring, issuer="hmmtrade", audience="hmmtrade-internal", ttl_s=600)


@dataclass
class InternalApi:
    client: httpx.AsyncClient
    tokens: MachineTokens
    table: FakeMachineTokenTable
    seen_bot_ids: list[str]

    def issue(self, bot_id: uuid.UUID, *, revoked: bool = False) -> str:
        token, claims = self.tokens.mint(bot_id)
        self.table.rows[(claims.jti, bot_id)] = revoked
        return token


@pytest.fixture
async def api() -> AsyncIterator[InternalApi]:
    tokens = _machine_tokens()
    table = FakeMachineTokenTable()
    seen: list[str] = []
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/internal/whoami")
    async def whoami(machine: CurrentMachine) -> dict[str, str]:
        seen.append(str(structlog.contextvars.get_contextvars().get("bot_id")))
        return {"bot_id": str(machine.bot_id), "jti": str(machine.jti)}

    async def security() -> FakeSecurity:
        return FakeSecurity(tokens)

    async def db() -> FakeMachineTokenTable:
        return table

    app.dependency_overrides[get_security] = security
    app.dependency_overrides[get_db] = db
    transport = httpx.ASGITransport(app=app)
    structlog.contextvars.clear_contextvars()
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        yield InternalApi(client, tokens, table, seen)
    structlog.contextvars.clear_contextvars()


def _assert_refused(response: httpx.Response, detail: str = REFUSED) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json()["detail"] == detail


async def test_a_live_token_speaks_for_its_bot_and_names_it_in_the_request_log(api: InternalApi) -> None:
    bot = uuid.uuid4()
    response = await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {api.issue(bot)}"})
    assert response.status_code == 200
    assert response.json()["bot_id"] == str(bot)
    # the liveness check is for this token's jti AND this bot, in that order
    (jti, checked_bot) = api.table.queries[-1]
    assert (str(jti), checked_bot) == (response.json()["jti"], bot)
    assert api.seen_bot_ids == [str(bot)]


async def test_the_scheme_is_case_insensitive(api: InternalApi) -> None:
    bot = uuid.uuid4()
    response = await api.client.get("/internal/whoami", headers={"Authorization": f"bearer {api.issue(bot)}"})
    assert response.status_code == 200 and response.json()["bot_id"] == str(bot)


async def test_a_revoked_token_is_refused_although_its_signature_is_good(api: InternalApi) -> None:
    token = api.issue(uuid.uuid4(), revoked=True)
    _assert_refused(await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {token}"}))
    assert api.seen_bot_ids == []


async def test_a_signed_token_we_never_recorded_is_refused(api: InternalApi) -> None:
    token, _ = api.tokens.mint(uuid.uuid4())  # signed with our key, but no machine_tokens row
    _assert_refused(await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {token}"}))


async def test_a_token_recorded_for_another_bot_is_refused(api: InternalApi) -> None:
    bot, other = uuid.uuid4(), uuid.uuid4()
    token, claims = api.tokens.mint(bot)
    api.table.rows[(claims.jti, other)] = False  # live, but issued to another bot
    _assert_refused(await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c"])
async def test_a_bad_token_is_refused_with_the_same_answer_as_a_revoked_one(api: InternalApi, token: str) -> None:
    _assert_refused(await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {token}"}))
    assert api.table.queries == []  # never reaches the database


async def test_a_token_signed_by_another_key_is_refused(api: InternalApi) -> None:
    bot = uuid.uuid4()
    token, claims = _machine_tokens().mint(bot)
    api.table.rows[(claims.jti, bot)] = False
    _assert_refused(await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic Ym90OnNlY3JldA=="}, {"Authorization": "Bearer"}],
    ids=["no header", "basic", "bearer without token"],
)
async def test_no_bearer_token_is_a_401_with_the_challenge_not_a_403(api: InternalApi, headers: dict[str, str]) -> None:
    response = await api.client.get("/internal/whoami", headers=headers)
    _assert_refused(response, "Send a machine token as 'Authorization: Bearer <token>'.")


async def test_the_openapi_document_describes_the_machine_bearer_scheme(api: InternalApi) -> None:
    schemes = (await api.client.get("/openapi.json")).json()["components"]["securitySchemes"]
    (scheme,) = schemes.values()
    assert scheme["scheme"] == "bearer"
    assert scheme["description"] == "A machine JWT (sub = bot:<id>), issued with the bot's machine."


class RecordingLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.entries.append(("info", event, fields))


async def test_the_log_says_which_check_refused_the_token(api: InternalApi, monkeypatch: pytest.MonkeyPatch) -> None:
    log = RecordingLog()
    monkeypatch.setattr(machine_auth, "log", log)  # the real logger is cached on first use
    bot = uuid.uuid4()
    revoked = api.issue(bot, revoked=True)
    await api.client.get("/internal/whoami", headers={"Authorization": "Bearer not-a-jwt"})
    await api.client.get("/internal/whoami", headers={"Authorization": f"Bearer {revoked}"})
    (level1, event1, bad), (level2, event2, gone) = log.entries
    assert (level1, event1, level2, event2) == ("info", "machine_token.refused", "info", "machine_token.refused")
    with pytest.raises(InvalidMachineToken) as why:
        api.tokens.verify("not-a-jwt")
    assert bad == {"reason": str(why.value)} and str(why.value) not in ("", "None")
    assert gone == {"reason": "revoked or unknown jti", "bot_id": str(bot)}
