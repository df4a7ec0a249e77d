"""A check of the attachment store against the database, for operators: every file a row
names is there and still has its digest, and files no row names can be removed.

A file is kept before its row commits (`AttachmentService`), and a failed commit leaves
it behind; such orphans are harmless (content-addressed, never served) but take space.
Young orphans may belong to an upload still in flight, so only old ones are removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.consults.blobs import CHUNK_BYTES, BlobStore
from telehealth.consults.models import ConsultAttachment
from telehealth.db.uow import UnitOfWork

DIGEST = re.compile(r"[0-9a-f]{64}")
# An orphan younger than this may be an upload between keeping its file and committing.
ORPHAN_GRACE_SECONDS = 3600.0


@dataclass
class StoreReport:
    """What the check found; `ok` when every named file is there and intact."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    removed: int = 0

    @property
    def ok(self) -> bool:
        """No named file is missing or damaged (orphans are not a fault)."""
        return not self.missing and not self.damaged


async def check_store(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: BlobStore,
    *,
    remove_orphans: bool = False,
    grace_seconds: float = ORPHAN_GRACE_SECONDS,
) -> StoreReport:
    """Compare the files under `store` with the digests the attachment rows name."""
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    ConsultAttachment.sha256,
                    ConsultAttachment.preview_sha256,
                    ConsultAttachment.thumbnail_sha256,
                )
            )
        ).all()
    named = {digest for row in rows for digest in row if digest}
    return await asyncio.to_thread(_check, store, named, remove_orphans, grace_seconds)


def _check(
    store: BlobStore, named: set[str], remove_orphans: bool, grace_seconds: float
) -> StoreReport:
    report = StoreReport()
    for digest in sorted(named):
        path = store.path(digest)
        report.checked += 1
        if not path.is_file():
            report.missing.append(digest)
        elif _digest_of(path) != digest:
            report.damaged.append(digest)
    cutoff = time.time() - grace_seconds
    for path in _kept_files(store):
        if path.name in named:
            continue
        report.orphans.append(path)
        if remove_orphans and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            report.removed += 1
    return report


def _kept_files(store: BlobStore) -> list[Path]:
    """Files in the store's `<sha[:2]>/<sha>` layout (never its `tmp/`)."""
    if not store.root.is_dir():
        return []
    return sorted(
        path
        for folder in store.root.iterdir()
        if folder.is_dir() and folder != store.tmp
        for path in folder.iterdir()
        if DIGEST.fullmatch(path.name) and path.name[:2] == folder.name
    )


def _digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
