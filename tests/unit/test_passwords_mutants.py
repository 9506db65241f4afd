"""Password hashing: what a user would notice if it broke (no unit test reached it before issue 21).

A right password that no longer logs in, a wrong one that does, an unknown email that logs in with
the dummy password or answers faster than a known one (an account-existence oracle), a stored hash
in a weaker format that is never upgraded.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from api import passwords

DUMMY_PASSWORD = "not a real password, only for constant-time misses"


async def test_a_hashed_password_verifies_and_another_does_not() -> None:
    stored = await passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify_password(stored, "correct horse") is True
    assert await passwords.verify_password(stored, "correct horsE") is False


async def test_the_same_password_hashes_differently_each_time() -> None:
    assert await passwords.hash_password("same") != await passwords.hash_password("same")


async def test_an_unknown_email_never_logs_in_and_still_pays_for_a_hash_check(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = passwords._HASHER

    class SpyHasher:
        def verify(self, password_hash: str, password: str) -> bool:
            checked.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_HASHER", SpyHasher())
    assert await passwords.verify_password(None, DUMMY_PASSWORD) is False
    assert await passwords.verify_password(None, "anything") is False
    assert checked == [passwords._DUMMY_HASH, passwords._DUMMY_HASH]
    assert passwords._DUMMY_HASH.startswith("$argon2id$")


@pytest.mark.parametrize("stored", ["not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$broken$broken"])
async def test_a_corrupt_stored_hash_refuses_the_login_instead_of_failing(stored: str) -> None:
    assert await passwords.verify_password(stored, "correct horse") is False


async def test_a_hash_in_weaker_settings_is_flagged_for_rehash_and_a_current_one_is_not() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse")
    assert passwords.needs_rehash(weak) is True
    assert await passwords.verify_password(weak, "correct horse") is True
    assert passwords.needs_rehash(await passwords.hash_password("correct horse")) is False
