"""The attachment store: files kept once under their SHA-256, written through a
temporary directory so that a half-received file is never mistaken for a kept one."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from telehealth.consults.inspection import SNIFF_BYTES, FileType, sniff
from telehealth.errors import DomainError, ErrorCode

CHUNK_BYTES = 256 * 1024


class FileSource(Protocol):
    """An uploaded file as it arrives: the name the client gave, then its bytes."""

    @property
    def filename(self) -> str | None:
        """The file name sent by the client, if any."""

    async def read_chunk(self, size: int) -> bytes:
        """Up to `size` more bytes; empty at the end of the file."""


@dataclass(frozen=True)
class Staged:
    """A complete file waiting in the temporary directory to be kept under its digest."""

    path: Path
    sha256: str
    size: int


class BlobStore:
    """Files named by their SHA-256 under `<root>/<sha[:2]>/<sha>`; unfinished ones in
    `<root>/tmp/`. The same content is stored once, however often it is uploaded."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> BlobStore:
        """The store of a data directory (its `attachments/` folder)."""
        return cls(data_dir / "attachments")

    def path(self, sha256: str) -> Path:
        """Where the file with this digest is kept."""
        return self.root / sha256[:2] / sha256

    async def receive(self, source: FileSource, limit: int) -> tuple[Staged, FileType]:
        """Stream `source` to a temporary file, hashing as it comes; stop at once when it
        passes `limit` bytes or its first bytes are of a type we do not take."""
        fh, path = await asyncio.to_thread(self._open_temp)
        digest, size, head = hashlib.sha256(), 0, b""
        filetype: FileType | None = None
        try:
            while chunk := await source.read_chunk(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise DomainError(
                        f"The file is larger than the limit of {limit} bytes.",
                        code=ErrorCode.PAYLOAD_TOO_LARGE,
                    )
                if filetype is None and len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                    filetype = _sniffed(head) if len(head) == SNIFF_BYTES else None
                await asyncio.to_thread(_append, fh, digest, chunk)
            if size == 0:
                raise DomainError("The file is empty.", code=ErrorCode.INVALID_FILE)
            filetype = filetype or _sniffed(head)
            await asyncio.to_thread(_seal, fh)
        except BaseException:
            # Synchronous on purpose: this must also run when the task is cancelled.
            fh.close()
            path.unlink(missing_ok=True)
            raise
        return Staged(path, digest.hexdigest(), size), filetype

    async def stage_bytes(self, data: bytes) -> Staged:
        """Write bytes made here (a preview) to a temporary file."""
        return await asyncio.to_thread(self._stage_bytes, data)

    async def keep(self, staged: Staged) -> None:
        """Move a staged file into place (or drop it when that content is already kept)."""
        await asyncio.to_thread(self._keep, staged)

    def discard(self, staged: Staged) -> None:
        """Remove a staged file that was not kept; synchronous so it runs even when the
        task is being cancelled (an unlink is a single, quick system call)."""
        staged.path.unlink(missing_ok=True)

    def sweep(self, older_than: float) -> int:
        """Remove unfinished files older than `older_than` seconds: what a crashed
        process left behind. Young ones may be another process's upload in flight."""
        if not self.tmp.is_dir():
            return 0
        cutoff, removed = time.time() - older_than, 0
        for leftover in self.tmp.iterdir():
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:  # another process swept it first
                continue
        return removed

    def _open_temp(self) -> tuple[BinaryIO, Path]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        return os.fdopen(fd, "wb"), Path(name)

    def _stage_bytes(self, data: bytes) -> Staged:
        fh, path = self._open_temp()
        try:
            fh.write(data)
            _seal(fh)
        except BaseException:
            fh.close()
            path.unlink(missing_ok=True)
            raise
        return Staged(path, hashlib.sha256(data).hexdigest(), len(data))

    def _keep(self, staged: Staged) -> None:
        target = self.path(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)
        _fsync_dir(target.parent)


def _sniffed(head: bytes) -> FileType:
    filetype = sniff(head)
    if filetype is None:
        raise DomainError(
            "Only JPEG, PNG, PDF and DICOM files can be attached; "
            "the content of this file is none of these.",
            code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        )
    return filetype


def _append(fh: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    fh.write(chunk)


def _seal(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
