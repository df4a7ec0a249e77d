"""The acknowledgement envelope of every client event: `{"ok": true, "data": ...}` or
`{"ok": false, "error": {"code", "detail"}}` -- never silence, never a traceback."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec

from telehealth.errors import DomainError, ErrorCode

log = logging.getLogger("telehealth.signalling")

P = ParamSpec("P")
Envelope = dict[str, Any]


def ok(data: Any = None) -> Envelope:
    """A successful acknowledgement."""
    return {"ok": True, "data": {} if data is None else data}


def failure(code: ErrorCode, detail: str) -> Envelope:
    """A failed acknowledgement with a stable code."""
    return {"ok": False, "error": {"code": code.value, "detail": detail}}


def acknowledged(
    handler: Callable[P, Awaitable[Any]],
) -> Callable[P, Coroutine[Any, Any, Envelope]]:
    """Wrap an event handler so that whatever happens, the client gets one envelope.

    python-socketio sends no ack at all when a handler raises, so the mapping of
    errors to codes happens here and only here for Socket.IO.
    """

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Envelope:
        return await answer(handler(*args, **kwargs), handler.__name__)

    return wrapper


async def answer(call: Awaitable[Any], name: str) -> Envelope:
    """The envelope of one handler call (what `acknowledged` does, without building a
    wrapper per event)."""
    try:
        return ok(await call)
    except DomainError as error:
        return failure(error.code, error.detail)
    except Exception:
        log.exception("signalling handler failed", extra={"handler": name})
        return failure(ErrorCode.INTERNAL, "Something went wrong on our side.")
