"""The email adapter: stdlib ``smtplib`` in a worker thread, one connection per message.

The SMTP server is the operator's (``HMMTRADE_SMTP_*`` for the workers, ``smtp:`` in the
agent's ``notify.yaml``), not user data. The
Message-ID is derived from the notification id, so a mail sent twice (a crash between
send and record) is the same message to a mail client that threads or dedupes on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from contracts.notify import Notification
from notify._exceptions import TargetRejected, TargetUnavailable
from notify.port import EmailChannel
from notify.signing import ID_HEADER

MESSAGE_ID_DOMAIN = "notify.hmmtrade"


@dataclass(frozen=True)
class SmtpSettings:
    """The operator's SMTP relay. ``starttls`` upgrades the connection before logging in."""

    host: str
    port: int = 587
    sender: str = "HMM Trade <notify@hmmtrade.dev>"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout_s: float = 10.0


def message_id(notification_id: str) -> str:
    return f"<{hashlib.sha256(notification_id.encode()).hexdigest()[:40]}@{MESSAGE_ID_DOMAIN}>"


def build_message(notification: Notification, *, sender: str, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = notification.title
    message["Date"] = formatdate(notification.occurred_at.timestamp(), usegmt=True)
    message["Message-ID"] = message_id(notification.id)
    message[ID_HEADER] = notification.id
    message.set_content(notification.text)
    return message


class EmailTarget:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    @property
    def sender(self) -> str:
        return self._settings.sender

    async def send(self, notification: Notification, channel: EmailChannel) -> None:
        await self.send_message(build_message(notification, sender=self._settings.sender, to=channel.to))

    async def send_message(self, message: EmailMessage) -> None:
        """Send a message built elsewhere (a billing notice to the account's address)."""
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> None:
        settings = self._settings
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.username and settings.password:
                    smtp.login(settings.username, settings.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise TargetRejected(f"the mail server refused the address (SMTP {codes[0]})") from None
            raise TargetUnavailable(f"the mail server deferred the address (SMTP {codes[0]})") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise TargetRejected(f"the mail server refused the message (SMTP {exc.smtp_code})") from None
            raise TargetUnavailable(f"the mail server deferred the message (SMTP {exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TargetUnavailable(f"mail server unreachable: {type(exc).__name__}: {exc}") from None
