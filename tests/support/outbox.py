"""Stand-ins for the world outside: a real SMTP server and an SMS gateway on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on a free loopback port in the running event loop."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="mail.test", enable_SMTPUTF8=True), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook: one message was handed over."""
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        """The Message-ID of every message received, duplicates included."""
        return [str(m["Message-ID"]) for m in self.messages]


class SmsGateway:
    """An HTTP endpoint standing in for the SMS gateway; answers 200 unless told otherwise."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Serve POST /sms on a free loopback port in the running event loop."""
        app = web.Application()
        app.router.add_post("/sms", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        """The webhook URL to configure."""
        return f"http://127.0.0.1:{self.port}/sms"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(
            {
                **body,
                "authorization": request.headers.get("Authorization"),
                "idempotency_key": request.headers.get("Idempotency-Key"),
            }
        )
        status = self.answers.pop(0) if self.answers else 200
        if status < 300:
            self.delivered.append(body)
        return web.json_response({"status": status}, status=status)

    def ids(self) -> list[str]:
        """The outbox id of every delivered text, duplicates included."""
        return [str(d["id"]) for d in self.delivered]
