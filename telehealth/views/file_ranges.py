"""Kept files over HTTP in pieces: one byte range per request (RFC 9110 section 14), so
a download cut off on a weak link resumes where it stopped instead of starting again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import payload, web
from aiohttp.abc import AbstractStreamWriter

CHUNK_BYTES = 256 * 1024


class Unsatisfiable(Exception):
    """The range asked for lies wholly beyond the end of the file (416)."""


def wanted_range(request: web.Request, size: int, etag: str) -> tuple[int, int] | None:
    """The bytes `[start, stop)` a `Range` header asks for, or None for the whole file:
    no header, one aiohttp cannot read (ignored, as the RFC allows), or an `If-Range`
    naming another version. Raises Unsatisfiable for a range past the end."""
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    try:
        asked = request.http_range
    except ValueError:
        return None
    start, stop = asked.start, asked.stop
    if start is None and stop is None:
        return None
    if start is None or start < 0:  # a suffix: the last N bytes
        start = max(0, size + (start or 0)) if start is not None else 0
        stop = size
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise Unsatisfiable
    return start, stop


class FileSlice(payload.Payload):
    """Bytes `[start, start + count)` of a file, read from a thread chunk by chunk and
    opened only while it is being sent."""

    _autoclose = True

    def __init__(self, path: Path, start: int, count: int, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._start = start
        self._count = count
        self._size = count  # what aiohttp sends as Content-Length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a file is sent as bytes")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        left = self._count if content_length is None else min(self._count, content_length)
        path: Path = self._value
        fh = await asyncio.to_thread(path.open, "rb")
        try:
            await asyncio.to_thread(fh.seek, self._start)
            while left > 0:
                chunk = await asyncio.to_thread(fh.read, min(CHUNK_BYTES, left))
                if not chunk:
                    break
                await writer.write(chunk)
                left -= len(chunk)
        finally:
            await asyncio.to_thread(fh.close)
