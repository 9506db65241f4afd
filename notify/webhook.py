"""The webhook adapter: POST the notification as JSON, signed (``notify.signing``).

``X-HMMTrade-Notification-Id`` carries the notification id: a receiver that keeps the
ids it has seen drops the rare second delivery (a crash between send and record).
Redirects are not followed (a 3xx is a refusal): a public URL must not bounce the notifier
into a private network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from contracts.notify import Notification
from notify._exceptions import TargetUnavailable, for_http_status
from notify.port import WebhookChannel
from notify.signing import ID_HEADER, SIGNATURE_HEADER, sign


class WebhookTarget:
    def __init__(self, client: httpx.AsyncClient, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock

    async def send(self, notification: Notification, channel: WebhookChannel) -> None:
        body = notification.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HMMTrade-Notifier/1",
            ID_HEADER: notification.id,
            SIGNATURE_HEADER: sign(channel.signing_secret, body, timestamp=int(self._clock())),
        }
        try:
            response = await self._client.post(channel.url, content=body, headers=headers, follow_redirects=False)
        except httpx.HTTPError as exc:
            # the URL may itself be a secret (a capability URL): never echo it into the recorded error
            detail = str(exc).replace(channel.url, "<url>")
            raise TargetUnavailable(f"webhook unreachable: {type(exc).__name__}: {detail}") from None
        if not response.is_success:
            raise for_http_status(response.status_code, "the webhook")
