"""What a delivery can fail with, translated at each adapter's edge::

    DeliveryError            a notification did not reach its channel
    ├── TargetUnavailable    try again later: timeout, refused connection, 5xx, 429, SMTP 4xx
    └── TargetRejected       the target refuses it for good: 4xx, SMTP 5xx, a bad address

Messages never carry a secret (a bot token, a signing secret): they are recorded and logged.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A notification did not reach its channel."""


class TargetUnavailable(DeliveryError):
    """The target could not take it now; retrying later may succeed."""


class TargetRejected(DeliveryError):
    """The target refused it; retrying the same request will not help."""


def for_http_status(status: int, what: str) -> DeliveryError:
    """The error for a non-2xx HTTP answer: 408, 429 and 5xx are worth retrying, other 4xx are not."""
    if status in (408, 425, 429) or status >= 500:
        return TargetUnavailable(f"{what} answered HTTP {status}; will retry")
    return TargetRejected(f"{what} answered HTTP {status}; check the channel's settings")
