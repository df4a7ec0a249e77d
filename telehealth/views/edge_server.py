"""Serving the app so that every answer is ours, even those aiohttp gives by itself.

aiohttp answers a request it cannot parse (a header line over 8,190 bytes, too many
headers, a malformed request line or method) before any middleware runs, in plain text
that repeats the client's bytes, under `Server: Python/… aiohttp/…`. Other answers are
built past the middlewares too: Socket.IO's own HTTP answers (its requests skip the
edge) and the router's answer to an unknown `Expect` header, which repeats it.

This module is the one place that reaches into aiohttp's protocol for that:
`EdgeRequestHandler` renders the parse errors as problem+json, and `EdgeAppRunner`
serves an app with it (`telehealth serve` runs through `run`). `stamp_edge_headers`, a
response-prepare signal, gives every other answer the security headers and our
`Server` name, and replaces an error body that no middleware wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Final

from aiohttp import web

from telehealth.errors import ErrorCode
from telehealth.views.middlewares import MALFORMED_REQUEST, SECURITY_HEADERS, SERVER_NAME
from telehealth.views.problem import CODE_BY_HTTP_STATUS, PROBLEM_TYPE, problem_body

__all__ = ["EdgeAppRunner", "EdgeRequestHandler", "run", "stamp_edge_headers", "start"]

log = logging.getLogger("telehealth.http")

INTERNAL: Final = "Something went wrong on our side."
# Paths whose answers are Socket.IO's protocol: headers are stamped, bodies left alone.
SIGNALLING_PREFIX: Final = "/socket.io/"


def edge_problem(status: int, request_id: str) -> bytes:
    """The problem+json body of an answer given outside the middlewares: fixed words,
    nothing of the request repeated."""
    code = (
        ErrorCode.INTERNAL
        if status >= 500
        else CODE_BY_HTTP_STATUS.get(status, ErrorCode.VALIDATION_ERROR)
    )
    detail = INTERNAL if status >= 500 else MALFORMED_REQUEST
    body = {**problem_body(code, detail, request_id), "status": status}
    return json.dumps(body, ensure_ascii=False).encode()


def _stamp(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    # aiohttp would name itself and its version (and Python's) to every scanner.
    headers["Server"] = SERVER_NAME


class EdgeRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse our way."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A problem+json answer with the edge's headers; the connection is closed."""
        if request.writer.output_size > 0:
            # Part of an answer is on the wire: nothing coherent can follow it.
            raise ConnectionError("an answer was already being sent")
        request_id = uuid.uuid4().hex
        if status >= 500:
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
        else:
            # The exception's message repeats the client's bytes: only its kind is logged.
            log.info(
                "malformed request",
                extra={
                    "status": status,
                    "remote": request.remote,
                    "reason": type(exc).__name__ if exc else None,
                    "request_id": request_id,
                },
            )
        body = edge_problem(status, request_id)
        response = web.Response(status=status, body=body, content_type=PROBLEM_TYPE)
        _stamp(response.headers)
        response.headers["X-Request-ID"] = request_id
        response.headers["Cache-Control"] = "no-store"
        response.force_close()
        return response


class EdgeServer(web.Server):
    """aiohttp's low-level server, building `EdgeRequestHandler`s for its connections."""

    @classmethod
    def taking_over(cls, server: web.Server) -> EdgeServer:
        """The same server (handler, request factory, handler arguments) with our
        connection handler."""
        return cls(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )

    def __call__(self) -> web.RequestHandler:
        """A handler for one new connection."""
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer malformed requests our way."""

    async def _make_server(self) -> web.Server:
        return EdgeServer.taking_over(await super()._make_server())


async def stamp_edge_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Response-prepare signal: security headers and our `Server` on every answer, and
    no echoed input in an error that bypassed the middlewares (they set X-Request-ID)."""
    _stamp(response.headers)
    if (
        response.status < 400
        or "X-Request-ID" in response.headers
        or request.path.startswith(SIGNALLING_PREFIX)
        or not isinstance(response, web.Response)
    ):
        return
    request_id = uuid.uuid4().hex
    # The length was fixed when the original body was set.
    response.headers.popall("Content-Length", None)
    response.body = edge_problem(response.status, request_id)
    response.content_type = PROBLEM_TYPE
    response.headers["X-Request-ID"] = request_id


async def start(
    app: web.Application, host: str, port: int, *, handle_signals: bool = False
) -> EdgeAppRunner:
    """Start serving `app` on host:port; the caller cleans the runner up."""
    runner = EdgeAppRunner(app, handle_signals=handle_signals, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def _serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    runner = await start(app, host, port, handle_signals=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut it down cleanly (as
    `web.run_app` does, with our runner)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve_until_stopped(app, host, port))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
