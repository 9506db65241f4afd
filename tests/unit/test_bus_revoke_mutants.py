"""Revoking bus credentials (``events/auth/revoke.py``) against an in-memory account resolver.

tests/security/test_bus_auth.py revokes against a real nats-server; too slow for ``./dev
mutation``. The fake here answers the two system requests the way nats-server's full resolver
does (a lookup returns the stored account JWT; an update replaces it and answers JSON). What an
operator would notice: a stopped bot's credential still connecting (revocation not pushed, or
pushed with an older iat the server ignores, or lost to a concurrent revoker), the revocation
list growing forever, old revocations of other users dropped too early, an error that does not
say what the server answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from events.auth import jwt, revoke
from events.auth.keys import BusKeys
from events.auth.revoke import MAX_CREDENTIAL_LIFETIME_S, RevocationFailed, revoke_users

NOW = 1_800_000_000
KEYS = BusKeys.generate(issued_at=NOW - 3600)


@dataclass
class FakeResolver:
    """nats-server's system-account endpoints for one account."""

    keys: BusKeys
    stored: str = ""
    requests: list[tuple[str, bytes, float]] = field(default_factory=list)
    lose_pushes: int = 0  # the next N updates are overwritten by a concurrent revoker
    lookup_answer: bytes | None = None
    update_answer: bytes | None = None

    def __post_init__(self) -> None:
        self.stored = self.stored or self.keys.account_jwt()

    async def request(self, subject: str, payload: bytes, timeout: float) -> SimpleNamespace:
        self.requests.append((subject, payload, timeout))
        if subject == f"$SYS.REQ.ACCOUNT.{self.keys.account_key}.CLAIMS.LOOKUP":
            return SimpleNamespace(data=self.lookup_answer if self.lookup_answer is not None else self.stored.encode())
        if subject == "$SYS.REQ.CLAIMS.UPDATE":
            if self.update_answer is not None:
                return SimpleNamespace(data=self.update_answer)
            if self.lose_pushes:
                self.lose_pushes -= 1
            elif jwt.claims_of(payload.decode())["iat"] > jwt.claims_of(self.stored).get("iat", 0):
                self.stored = payload.decode()  # the resolver keeps only a newer JWT
            return SimpleNamespace(data=b'{"data": {"code": 200, "message": "jwt updated"}}')
        raise AssertionError(f"unexpected request {subject}")

    def revocations(self) -> dict[str, int]:
        return dict(jwt.claims_of(self.stored)["nats"].get("revocations", {}))

    @property
    def pushes(self) -> list[dict[str, Any]]:
        return [jwt.claims_of(p.decode()) for s, p, _ in self.requests if s == "$SYS.REQ.CLAIMS.UPDATE"]


@dataclass
class FakeAsyncio:
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class RecordingLog:
    def __init__(self) -> None:
        self.infos: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.infos.append((event, fields))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    fake = FakeAsyncio()
    monkeypatch.setattr(revoke, "asyncio", fake)
    return fake.sleeps


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recording = RecordingLog()
    monkeypatch.setattr(revoke, "log", recording)
    return recording


async def test_revoking_lists_the_users_as_of_now_and_logs_it(sleeps: list[float], log: RecordingLog) -> None:
    resolver = FakeResolver(KEYS)
    await revoke_users(resolver, KEYS, ["UBOT2", "UBOT1", "UBOT1"], now=NOW + 0.9)  # type: ignore[arg-type]
    assert resolver.revocations() == {"UBOT1": NOW, "UBOT2": NOW}
    (pushed,) = resolver.pushes
    assert pushed["iat"] == NOW  # newer than the stored JWT (issued an hour ago): the server keeps it
    assert pushed["sub"] == KEYS.account_key
    assert sleeps == []
    assert log.infos == [("bus.revoked", {"users": 2})]
    lookups = [r for r in resolver.requests if r[0].endswith(".CLAIMS.LOOKUP")]
    assert len(lookups) == 2 and all(payload == b"" and timeout == 2.0 for _, payload, timeout in lookups)
    assert all(timeout == 2.0 for s, _, timeout in resolver.requests if s == "$SYS.REQ.CLAIMS.UPDATE")


async def test_nothing_to_revoke_asks_nothing(sleeps: list[float]) -> None:
    resolver = FakeResolver(KEYS)
    await revoke_users(resolver, KEYS, [], now=NOW)  # type: ignore[arg-type]
    assert resolver.requests == []


async def test_users_already_revoked_up_to_now_are_not_pushed_again(sleeps: list[float], log: RecordingLog) -> None:
    resolver = FakeResolver(KEYS, stored=KEYS.account_jwt(revocations={"UBOT1": NOW}, iat=NOW - 10))
    await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
    assert resolver.pushes == [] and log.infos == []


async def test_a_revocation_older_than_now_is_renewed(sleeps: list[float]) -> None:
    resolver = FakeResolver(KEYS, stored=KEYS.account_jwt(revocations={"UBOT1": NOW - 60}, iat=NOW - 10))
    await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
    assert resolver.revocations() == {"UBOT1": NOW}


async def test_a_stored_jwt_newer_than_now_is_still_replaced(sleeps: list[float]) -> None:
    # another revoker's clock ran ahead: our iat must still beat the stored one
    resolver = FakeResolver(KEYS, stored=KEYS.account_jwt(iat=NOW + 100))
    await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
    assert resolver.pushes[0]["iat"] == NOW + 101
    assert resolver.revocations() == {"UBOT1": NOW}


async def test_revocations_past_any_credentials_lifetime_are_dropped_the_rest_kept(sleeps: list[float]) -> None:
    horizon = NOW - MAX_CREDENTIAL_LIFETIME_S
    stored = KEYS.account_jwt(
        revocations={"UOLD": horizon - 1, "UEDGE": horizon, "UKEEP": NOW - 5, "UFUTURE": NOW + 50}, iat=NOW - 10
    )
    resolver = FakeResolver(KEYS, stored=stored)
    await revoke_users(resolver, KEYS, ["UBOT1", "UFUTURE"], now=NOW)  # type: ignore[arg-type]
    assert resolver.revocations() == {"UEDGE": horizon, "UKEEP": NOW - 5, "UFUTURE": NOW + 50, "UBOT1": NOW}
    assert MAX_CREDENTIAL_LIFETIME_S == 7 * 24 * 3600


async def test_a_push_lost_to_a_concurrent_revoker_is_pushed_again_after_a_pause(
    sleeps: list[float], log: RecordingLog
) -> None:
    resolver = FakeResolver(KEYS, lose_pushes=2)
    await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
    assert resolver.revocations() == {"UBOT1": NOW}
    assert len(resolver.pushes) == 3
    assert sleeps == pytest.approx([0.05, 0.1])
    assert log.infos == [("bus.revoked", {"users": 1})]


async def test_a_revocation_that_never_sticks_fails_after_five_attempts(sleeps: list[float], log: RecordingLog) -> None:
    resolver = FakeResolver(KEYS, lose_pushes=100)
    with pytest.raises(RevocationFailed) as raised:
        await revoke_users(resolver, KEYS, ["UBOT1", "UBOT2"], now=NOW)  # type: ignore[arg-type]
    assert str(raised.value) == "2 revocation(s) did not stick after 5 attempts"
    assert len(resolver.pushes) == 5
    assert sleeps == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert log.infos == []


async def test_a_lookup_without_the_jwt_says_what_the_server_answered() -> None:
    for answer in (b"", b"  \n", b'{"error": {"code": 404, "description": "no such account"}}'):
        resolver = FakeResolver(KEYS, lookup_answer=answer)
        with pytest.raises(RevocationFailed) as raised:
            await revoke.current_account_jwt(resolver, KEYS)  # type: ignore[arg-type]
        assert str(raised.value) == f"the server did not return the account JWT: {answer.decode().strip()[:200]!r}"
    resolver = FakeResolver(KEYS, lookup_answer=b"{" + b"x" * 300)
    with pytest.raises(RevocationFailed) as raised:
        await revoke.current_account_jwt(resolver, KEYS)  # type: ignore[arg-type]
    assert str(raised.value) == f"the server did not return the account JWT: {'{' + 'x' * 199!r}"


async def test_the_current_jwt_is_read_trimmed() -> None:
    resolver = FakeResolver(KEYS)
    resolver.lookup_answer = f" {resolver.stored}\n".encode()
    assert await revoke.current_account_jwt(resolver, KEYS, timeout_s=0.5) == resolver.stored  # type: ignore[arg-type]
    assert resolver.requests[-1][2] == 0.5


async def test_an_update_the_server_refuses_or_garbles_is_an_error_naming_it() -> None:
    resolver = FakeResolver(KEYS, update_answer=b'{"error": {"code": 400, "description": "jwt is older"}}')
    with pytest.raises(RevocationFailed) as raised:
        await revoke.push_account_jwt(resolver, "token", timeout_s=0.5)  # type: ignore[arg-type]
    assert str(raised.value) == "the server refused the account update: {'code': 400, 'description': 'jwt is older'}"
    assert resolver.requests == [("$SYS.REQ.CLAIMS.UPDATE", b"token", 0.5)]
    resolver = FakeResolver(KEYS, update_answer=b"<html>" + b"y" * 300)
    with pytest.raises(RevocationFailed) as raised:
        await revoke.push_account_jwt(resolver, "token")  # type: ignore[arg-type]
    assert str(raised.value) == f"unreadable answer to the account update: {b'<html>' + b'y' * 194!r}"


async def test_a_push_that_sticks_at_the_last_attempt_is_a_success(sleeps: list[float], log: RecordingLog) -> None:
    resolver = FakeResolver(KEYS, lose_pushes=4)
    await revoke_users(resolver, KEYS, ["UBOT1", "UBOT2"], now=NOW)  # type: ignore[arg-type]
    assert resolver.revocations() == {"UBOT1": NOW, "UBOT2": NOW}
    assert len(resolver.pushes) == 5
    assert log.infos == [("bus.revoked", {"users": 2})]


async def test_the_clock_is_now_when_no_time_is_given(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    monkeypatch.setattr(revoke, "time", SimpleNamespace(time=lambda: NOW + 0.7))
    resolver = FakeResolver(KEYS)
    await revoke_users(resolver, KEYS, ["UBOT1"])  # type: ignore[arg-type]
    assert resolver.revocations() == {"UBOT1": NOW}


def _bare_account_jwt() -> str:
    """An account JWT with neither ``iat`` nor a ``nats`` section (not one we write; another tool's)."""
    return jwt.encode({"sub": KEYS.account_key, "name": "HMMTRADE"}, signer_seed=KEYS.operator_signing)


async def test_an_account_jwt_without_iat_or_nats_section_is_replaced(sleeps: list[float]) -> None:
    resolver = FakeResolver(KEYS, stored=_bare_account_jwt())
    await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
    assert resolver.pushes[0]["iat"] == NOW
    assert resolver.revocations() == {"UBOT1": NOW}


async def test_a_revocation_never_stored_in_a_bare_account_jwt_fails(sleeps: list[float]) -> None:
    resolver = FakeResolver(KEYS, stored=_bare_account_jwt(), lose_pushes=100)
    with pytest.raises(RevocationFailed, match="1 revocation"):
        await revoke_users(resolver, KEYS, ["UBOT1"], now=NOW)  # type: ignore[arg-type]
