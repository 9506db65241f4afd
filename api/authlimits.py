"""How often one client may sign up or try to log in: the 429s of ``/api/v1/auth``.

Keys, and why:

- **Login, per client address + email.** Keying on the email alone let anyone lock a user
  out: ten wrong passwords for ``victim@…`` from anywhere and the victim's own correct
  login was refused too. Keyed on (address, email), an attacker only spends their own
  budget; the victim, from their address, still has theirs. A soft delay would slow the
  victim as well, so we chose the key. What an attacker with many addresses gains is
  guesses spread over addresses, each still paying an argon2id verification and the
  per-address cap below.
- **Login, per client address (any email).** Stops one address spraying one password
  over many emails.
- **Signup, per client address.** Stops one address minting accounts (each costs an
  argon2id hash and a row).

The client address is ``request.client.host``: uvicorn rewrites it from
``X-Forwarded-For`` only when the peer is one of ``HMMTRADE_FORWARDED_ALLOW_IPS``
(``stack/services.py``), so a client cannot choose the key by sending that header.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.problems import ProblemError
from api.ratelimit import RateLimiter
from api.settings import ApiSettings


def client_address(request: Request) -> str:
    """The caller's address as the server (and a trusted proxy) established it."""
    return request.client.host if request.client else "unknown"


@dataclass
class AuthLimits:
    login_per_address_and_email: RateLimiter
    login_per_address: RateLimiter
    signup_per_address: RateLimiter

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> AuthLimits:
        return cls(
            login_per_address_and_email=RateLimiter(settings.login_attempts_per_minute),
            login_per_address=RateLimiter(settings.login_attempts_per_address),
            signup_per_address=RateLimiter.per_hour(settings.signups_per_hour),
        )

    def check_login(self, address: str, email: str) -> None:
        """Take one login attempt; a 429 problem with ``Retry-After`` when over either budget."""
        wait = max(
            self.login_per_address_and_email.acquire(f"{address}|{email.lower()}"),
            self.login_per_address.acquire(address),
        )
        if wait > 0:
            raise ProblemError(
                429,
                "Too many login attempts from your address; wait before trying again.",
                headers=RateLimiter.retry_after_header(wait),
            )

    def check_signup(self, address: str) -> None:
        """Take one signup; a 429 problem with ``Retry-After`` when the address has used its budget."""
        wait = self.signup_per_address.acquire(address)
        if wait > 0:
            raise ProblemError(
                429,
                "Too many accounts created from your address; wait before signing up again.",
                headers=RateLimiter.retry_after_header(wait),
            )
