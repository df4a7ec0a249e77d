"""Bounds on how slowly a client may send a request body.

aiohttp waits for a body as long as its client keeps the connection open: one byte every
ten seconds holds a handler (and, for an upload, a temporary file) for ever. A watch
runs beside every handler whose request has a body. A body must be complete within
`ClientTimeouts.body_seconds`; an upload may take longer, as long as it has come at
`upload_min_rate` bytes a second on average. A body that falls behind fails the read
the handler is waiting on with a 408 `request_timeout`, and the connection is closed
(the rest of the body is not waited for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from telehealth import keys
from telehealth.config import ClientTimeouts
from telehealth.errors import DomainError, ErrorCode
from telehealth.views.routing import endpoint_of

__all__ = ["SlowBody", "body_deadline_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# How often the watch looks at the body's progress (at most; sooner for short limits).
CHECK_SECONDS: Final = 1.0


class SlowBody(DomainError):
    """A request body that did not arrive in time."""

    code = ErrorCode.REQUEST_TIMEOUT


def too_slow(received: int, elapsed: float, limits: ClientTimeouts, upload: bool) -> bool:
    """Whether a body with `received` bytes after `elapsed` seconds has fallen behind."""
    if elapsed <= limits.body_seconds:
        return False
    return not upload or received < limits.upload_min_rate * elapsed


async def _watch(request: web.Request, limits: ClientTimeouts, upload: bool) -> bool:
    """Wait for the body; fail its reader and answer True if it falls behind."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    every = min(CHECK_SECONDS, limits.body_seconds / 4)
    body = request.content
    while not body.is_eof():
        await asyncio.sleep(every)
        if too_slow(body.total_bytes, loop.time() - started, limits, upload):
            body.set_exception(SlowBody("The request body arrived too slowly."))
            return True
    return False


@web.middleware
async def body_deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler with its body watched; close the connection of a body cut off."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    limits = request.app[keys.SETTINGS].client_timeouts
    endpoint = endpoint_of(request)
    watch = asyncio.create_task(_watch(request, limits, endpoint is not None and endpoint.upload))
    try:
        response = await handler(request)
    finally:
        cut_off = watch.done() and watch.result()
        watch.cancel()
    if cut_off:
        response.force_close()  # the rest of the body is never read
    return response
