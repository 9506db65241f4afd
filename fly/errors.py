"""Our exceptions for the Fly Machines API. Vendor failures (HTTP statuses, httpx errors)
are translated into these at the client's edge, so callers decide on one question:
retry later, or give up and record why.

Hierarchy::

    FlyError
    ├── FlyTransientError             retrying later may succeed (the client already retried)
    │   ├── FlyRateLimited            429: Fly's per-action rate limit
    │   ├── FlyUnavailable            5xx, connection refused, timeouts: Fly or the network is down
    │   └── FlyWaitTimeout            the machine did not reach the awaited state in time
    └── FlyPermanentError             the same request will fail the same way: record the reason
        ├── FlyAuthError              401/403: the token is missing, wrong or lacks access to the app
        ├── FlyNotFound               404: no such machine (or app)
        ├── FlyConflict               409/412: the machine's state forbids this (e.g. delete a started one unforced)
        └── FlyBadRequest             400/422: Fly refused the request body (bad image, bad config)

Every error carries the HTTP ``status`` (``None`` when no answer came), the request's
``method`` and ``path``, and Fly's own message; never the token.
"""

from __future__ import annotations


class FlyError(Exception):
    """Any failure of a Fly Machines API call."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.message} ({where}{status})" if where else self.message


class FlyTransientError(FlyError):
    """Retrying later may succeed: rate limits, outages, timeouts."""


class FlyRateLimited(FlyTransientError):
    """Fly answered 429 on every attempt; ``retry_after_s`` is its last hint, if it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        status: int | None = 429,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.retry_after_s = retry_after_s


class FlyUnavailable(FlyTransientError):
    """Fly answered 5xx, or could not be reached at all."""


class FlyWaitTimeout(FlyTransientError):
    """The machine did not reach the awaited state before the deadline."""


class FlyPermanentError(FlyError):
    """The same request will fail the same way: give up and record the reason."""


class FlyAuthError(FlyPermanentError):
    """The API token is missing, wrong, or has no access to the app."""


class FlyNotFound(FlyPermanentError):
    """No such machine, or no such app."""


class FlyConflict(FlyPermanentError):
    """The machine's current state forbids the operation."""


class FlyBadRequest(FlyPermanentError):
    """Fly refused the request itself (an invalid machine config, a bad parameter)."""
