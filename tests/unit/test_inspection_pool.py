"""The inspection workers: a file that needs more memory than a worker's ceiling is
refused without the server growing, and a worker that dies does not end the pool."""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from telehealth.consults.inspection import PNG, Refused
from telehealth.consults.inspection_pool import InspectionPool
from tests.support import files

MIB = 1024 * 1024


def allocate(size: int) -> int:
    """Touch `size` bytes in the worker; returns how many it got."""
    return len(bytearray(size))


def peak_rss_mib() -> int:
    """The test process's own peak resident size (the server runs in this process)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@pytest.fixture
async def pool() -> AsyncIterator[InspectionPool]:
    """One worker with 64 MiB to spare."""
    pool = InspectionPool(workers=1, headroom=64 * MIB)
    yield pool
    await asyncio.to_thread(pool.close)


async def test_an_allocation_past_the_ceiling_fails_in_the_worker_only(
    pool: InspectionPool,
) -> None:
    before = peak_rss_mib()
    with pytest.raises(MemoryError):
        await pool.run(allocate, 1024 * MIB)
    assert await pool.run(allocate, 8 * MIB) == 8 * MIB
    assert peak_rss_mib() - before < 100


async def test_an_image_that_needs_more_than_the_ceiling_is_refused_as_too_large(
    pool: InspectionPool, tmp_path: Path
) -> None:
    # 4000 x 4000 RGB: 61 MiB decoded, under the header bound but over this worker's room.
    path = tmp_path / "photo.png"
    path.write_bytes(files.png_bomb(4000, 4000, bit_depth=8, colour_type=2))
    with pytest.raises(Refused) as refused:
        await pool.inspect(path, PNG)
    assert refused.value.detail == "The PNG file is not usable: it is too large to decode."
    assert str(tmp_path) not in refused.value.detail


async def test_a_worker_that_dies_is_replaced(pool: InspectionPool) -> None:
    with pytest.raises(BrokenProcessPool):
        await pool.run(os._exit, 1)
    assert await pool.run(allocate, 10) == 10


async def test_each_file_is_decoded_in_a_fresh_worker_process(
    tmp_path: Path,
) -> None:
    pool = InspectionPool(workers=2)
    try:
        pids = await asyncio.gather(*(pool.run(os.getpid) for _ in range(6)))
    finally:
        await asyncio.to_thread(pool.close)
    assert os.getpid() not in pids
    assert len(set(pids)) == 6  # one file per worker, then a fresh one
