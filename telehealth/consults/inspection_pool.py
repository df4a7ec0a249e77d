"""Worker processes that verify uploaded files, one file at a time per core, each
under a memory ceiling.

Decoding an image or a DICOM file is done by C libraries fed with untrusted bytes. In
the server's own process a file that decodes to gigabytes would take the server with
it; in a worker whose address space is capped (RLIMIT_AS) the allocation fails, the
file is refused as too large, and the server does not grow. A worker that dies (a
decoder crash) breaks only the pool, which is built again for the next file.

Workers are forked from a forkserver that has already imported the decoders (and
everything else a worker needs, PRELOAD), so a worker costs milliseconds, and each
serves one file before it is replaced: a heap left fragmented by one large file never
counts against the next.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Final, TypeVar

from aiohttp import web

from telehealth import keys
from telehealth.consults.inspection import FileType, Inspection, Refused, inspect, too_large

__all__ = ["WORKER_HEADROOM_BYTES", "InspectionPool", "inspection_pool_ctx"]

log = logging.getLogger("telehealth.consults.inspection")

T = TypeVar("T")

# What a worker may allocate on top of what it holds once started (the interpreter,
# numpy, Pillow, pydicom): a frame of MAX_DECODED_BYTES, the file, copies for the
# preview, and the decoders' own buffers.
WORKER_HEADROOM_BYTES: Final = 768 * 1024 * 1024
# Imported once in the forkserver, so that a worker forked from it imports nothing: the
# decoders, this module (the initializer) and the program's main module, which a worker
# would otherwise run again (`telehealth serve` imports the whole server).
PRELOAD: Final = ["__main__", "telehealth.consults.inspection", __name__]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _address_space() -> int:
    """The worker's current virtual size in bytes (Linux), or 0 when unknown."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def limit_memory(headroom: int) -> None:
    """Worker initializer: cap the address space at what it uses now plus `headroom`."""
    ceiling = _address_space() + headroom
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))


class InspectionPool:
    """Runs file inspections in worker processes, at most one per core at a time."""

    def __init__(self, workers: int | None = None, headroom: int = WORKER_HEADROOM_BYTES) -> None:
        self.workers = workers or _cores()
        self._headroom = headroom
        self._slots = asyncio.Semaphore(self.workers)
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=limit_memory,
            initargs=(self._headroom,),
            max_tasks_per_child=1,
        )

    async def inspect(self, path: Path, filetype: FileType) -> Inspection:
        """`inspection.inspect` in a worker; a file that exhausts the worker is refused."""
        try:
            return await self.run(inspect, path, filetype)
        except Refused as refused:
            if refused.cause is not None:
                log.info("file refused", extra={"reason": refused.cause[:500]})
            raise
        except (MemoryError, BrokenProcessPool) as exc:
            log.warning("file inspection failed in its worker", extra={"reason": repr(exc)})
            raise too_large(filetype, exc) from None

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run a picklable module-level `function` in a worker."""
        async with self._slots:
            executor = self._executor
            try:
                return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
            except BrokenProcessPool:
                # A worker died (killed, or a decoder crashed): the next file gets a new pool.
                if self._executor is executor:
                    self._executor = self._start()
                    executor.shutdown(wait=False, cancel_futures=True)
                raise

    def close(self) -> None:
        """Stop the workers (a file being verified is finished first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


async def inspection_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """The app's pool of inspection workers, stopped at shutdown."""
    pool = InspectionPool()
    app[keys.INSPECTIONS] = pool
    yield
    await asyncio.to_thread(pool.close)
