"""How messages leave the server: e-mail over SMTP and SMS through an HTTP gateway webhook.

A transport sends one message or raises `DeliveryError`; it never touches the database.
A channel whose transport is not configured (no SMTP host, no webhook URL) gets no
transport at all: the dispatcher then leaves that channel's messages pending, not failed,
and logs once at startup, so they go out as soon as an operator configures the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import aiohttp
import aiosmtplib

from telehealth.config import Settings, SmsSettings, SmtpSettings
from telehealth.outbox.models import Channel

# Statuses by which a gateway says "this message is wrong" (a bad number, a text it will
# not take): retrying cannot help. Every other failure (5xx, 401/403/404 from a wrong
# setting, 429, timeouts) may heal, so it is retried with backoff.
PERMANENT_HTTP_STATUSES = frozenset({400, 413, 415, 422})
_ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class OutgoingMessage:
    """What a transport needs of one claimed outbox row (no ORM object leaves the session)."""

    id: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    locale: str


class DeliveryError(Exception):
    """A message was not delivered; `permanent` when retrying the same message cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Transport(Protocol):
    """Sends one message of its channel, or raises `DeliveryError`."""

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message."""


def message_id(outbox_id: str, sender: str) -> str:
    """The Message-ID of an outbox message: the same on every attempt, so a receiver can
    drop a copy resent after a crash between sending and recording."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "telehealth.invalid"
    return f"<{outbox_id}@{domain}>"


class EmailTransport:
    """E-mail through an SMTP relay (aiosmtplib), with optional STARTTLS and login."""

    def __init__(self, settings: SmtpSettings) -> None:
        if not settings.host:
            raise ValueError("EmailTransport needs an SMTP host")
        self._settings = settings
        self._host = settings.host

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The RFC 5322 message: UTF-8 text, its subject and a stable Message-ID."""
        email = EmailMessage()
        email["From"] = self._settings.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.id, self._settings.sender)
        # RFC 3834: tells auto-responders (holiday replies) not to answer.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body, charset="utf-8")
        # After set_content, which replaces every Content-* header.
        email["Content-Language"] = message.locale
        return email

    async def send(self, message: OutgoingMessage) -> None:
        """Hand one message to the relay; refusals of the recipient are permanent."""
        s = self._settings
        try:
            await aiosmtplib.send(
                self.build(message),
                sender=parseaddr(s.sender)[1] or s.sender,
                recipients=[message.recipient],
                hostname=self._host,
                port=s.port,
                username=s.username,
                password=s.password,
                # Exactly what the operator asked for: aiosmtplib's default (None) would
                # upgrade whenever offered and then fail on a relay's self-signed cert.
                start_tls=s.starttls,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(r.code >= 500 for r in exc.recipients)
            raise DeliveryError(f"SMTP refused the recipient: {exc}", permanent=permanent) from exc
        except aiosmtplib.SMTPDataError as exc:
            raise DeliveryError(
                f"SMTP refused the message: {exc}", permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from exc


class SmsTransport:
    """SMS through the gateway webhook: POST `{"id", "to", "text"}` as JSON; 2xx = delivered.

    The HTTP session belongs to the dispatcher's owner, which closes it at shutdown. The
    outbox id is also sent as `Idempotency-Key`, so a gateway can drop a resent copy.
    """

    def __init__(self, settings: SmsSettings, http: aiohttp.ClientSession) -> None:
        if not settings.webhook_url:
            raise ValueError("SmsTransport needs a webhook URL")
        self._url = settings.webhook_url
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._headers: dict[str, str] = {}
        if settings.token:
            self._headers["Authorization"] = f"Bearer {settings.token}"

    async def send(self, message: OutgoingMessage) -> None:
        """POST one message; a refusal of the message itself (400, 422 ...) is permanent."""
        payload = {"id": message.id, "to": message.recipient, "text": message.body}
        headers = {**self._headers, "Idempotency-Key": message.id}
        try:
            async with self._http.post(
                self._url, json=payload, headers=headers, timeout=self._timeout
            ) as response:
                if 200 <= response.status < 300:
                    return
                detail = (await response.text())[:_ERROR_TEXT_LIMIT]
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"SMS gateway: {type(exc).__name__}: {exc}") from exc
        raise DeliveryError(
            f"SMS gateway answered {response.status}: {detail}",
            permanent=response.status in PERMANENT_HTTP_STATUSES,
        )


def build_transports(settings: Settings, http: aiohttp.ClientSession) -> dict[Channel, Transport]:
    """The transports of every configured channel; unconfigured channels are left out."""
    transports: dict[Channel, Transport] = {}
    if settings.smtp.host:
        transports[Channel.EMAIL] = EmailTransport(settings.smtp)
    if settings.sms.webhook_url:
        transports[Channel.SMS] = SmsTransport(settings.sms, http)
    return transports
