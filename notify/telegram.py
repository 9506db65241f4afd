"""The Telegram adapter: Bot API ``sendMessage`` (``{api_base}/bot<token>/sendMessage``).

``api_base`` defaults to Telegram's; tests and self-hosted Bot API servers set their own.
The token sits in the URL path, so errors are built from the status alone, never the URL.
"""

from __future__ import annotations

import httpx

from contracts.notify import Notification
from notify._exceptions import TargetUnavailable, for_http_status
from notify.port import TelegramChannel

TELEGRAM_API = "https://api.telegram.org"
MAX_TEXT = 4_096  # Telegram's limit for one message


def message_text(notification: Notification) -> str:
    return f"{notification.title}\n\n{notification.text}"[:MAX_TEXT]


class TelegramTarget:
    def __init__(self, client: httpx.AsyncClient, *, api_base: str = TELEGRAM_API) -> None:
        self._client = client
        self._api_base = api_base.rstrip("/")

    async def send(self, notification: Notification, channel: TelegramChannel) -> None:
        url = f"{self._api_base}/bot{channel.bot_token}/sendMessage"
        payload = {"chat_id": channel.chat_id, "text": message_text(notification), "disable_web_page_preview": True}
        try:
            response = await self._client.post(url, json=payload)
        except httpx.HTTPError as exc:
            # httpx puts the request URL (with the token) in some messages: name the type only
            raise TargetUnavailable(f"Telegram unreachable: {type(exc).__name__}") from None
        if not response.is_success:
            raise for_http_status(response.status_code, "Telegram")
