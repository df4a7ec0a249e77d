"""The deadline watch: a background task, owned by the app, that marks overdue consults.

Marking and notifying commit together and a marked request is never picked again, so
each overdue request notifies exactly once, across restarts and several nodes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from telehealth import keys

log = logging.getLogger("telehealth.consults.deadlines")


async def watch(app: web.Application, stop: asyncio.Event) -> None:
    """Mark overdue consults every `watch_seconds` until `stop` is set."""
    service = app[keys.CONSULTS]
    interval = app[keys.SETTINGS].consults.watch_seconds
    while not stop.is_set():
        try:
            marked = await service.mark_overdue()
            if marked:
                log.info("consults marked overdue", extra={"count": marked})
        except Exception:
            log.exception("deadline watch iteration failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def deadline_watch_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the watch while the app runs; stop it cleanly at shutdown."""
    stop = asyncio.Event()
    task = asyncio.create_task(watch(app, stop), name="consult-deadline-watch")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
