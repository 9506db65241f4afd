"""argon2id password hashing. Hashing is slow on purpose, so it runs off the event loop."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = _HASHER.hash("not a real password, only for constant-time misses")


async def hash_password(password: str) -> str:
    return await run_in_threadpool(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await run_in_threadpool(_verify)


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
