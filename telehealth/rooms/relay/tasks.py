"""Background work of the relay with an owner: each task is kept until it ends, its
failure is logged, and the owner cancels and awaits what is left when it closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

__all__ = ["OwnedTasks"]

log = logging.getLogger("telehealth.relay")


class OwnedTasks:
    """The running tasks of one owner."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Awaitable[None], name: str) -> None:
        """Run `work` in the background; an exception is logged, never lost."""

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("relay task failed", extra={"task": name})

        task = asyncio.create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel what is still running and wait for it."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
