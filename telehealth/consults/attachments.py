"""Files attached to consults: streamed to disk, verified by content, stored once under
their SHA-256, and read back only by the consult's parties.

An upload never holds a database session while its bytes arrive (SQLite has one pooled
connection). The file waits in `tmp/` until it is verified; it is moved into place, and
its row, timeline entry and audit record are committed, in one unit of work. Whatever
fails on the way, the temporary file is removed and no row is written.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import User
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults import policy
from telehealth.consults.blobs import BlobStore, FileSource, Staged
from telehealth.consults.inspection import FileType
from telehealth.consults.inspection_pool import InspectionPool
from telehealth.consults.models import (
    ConsultAssignee,
    ConsultAttachment,
    ConsultEvent,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.repository import load_viewer
from telehealth.consults.schemas import AttachmentOut, UploaderRef
from telehealth.db.base import new_id, utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, DomainError, ErrorCode, Forbidden, NotFound

log = logging.getLogger("telehealth.consults.attachments")

MAX_NAME = 255
CONSULT_URL = "/api/v1/consults/{consult_id}/attachments/{attachment_id}"
# Which stored file of an attachment is asked for: as uploaded, the PNG preview, the thumbnail.
Rendition = Literal["original", "preview", "thumbnail"]


def display_name(raw: str | None, filetype: FileType) -> str:
    """A safe name to show and offer on download: no directories, no control or
    direction-changing characters, at most 255 characters, an extension that fits the
    content (a PNG sent as `scan.exe` is kept as `scan.exe.png`)."""
    name = raw or ""
    if "%" in name:  # aiohttp's client percent-encodes names; browsers send them as is
        with contextlib.suppress(UnicodeDecodeError):
            name = unquote(name, errors="strict")
    name = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    name = "".join(_name_char(c) for c in name).strip(" .")
    if not name.strip("."):
        name = "attachment"
    if Path(name).suffix.lower() not in filetype.extensions:
        name += filetype.extensions[0]
    if len(name) > MAX_NAME:
        suffix = Path(name).suffix[:16]
        name = name[: MAX_NAME - len(suffix)] + suffix
    return name


def _name_char(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Zs":
        return " "
    return "" if category[0] in "CZ" else c


class AttachmentRepository:
    """SQL of attachments, and of what deciding access to a consult needs."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def consult(self, consult_id: str, *, lock: bool = False) -> ConsultRequest | None:
        """One consult (row-locked on PostgreSQL when a file is being added)."""
        stmt = select(ConsultRequest).where(ConsultRequest.id == consult_id)
        found: ConsultRequest | None = await self.session.scalar(
            stmt.with_for_update() if lock else stmt
        )
        return found

    async def viewer(self, principal: Principal) -> policy.Viewer:
        """The caller with their practitioner profile and specialties."""
        return await load_viewer(self.session, principal)

    async def assignees(self, consult_id: str) -> set[str]:
        """Practitioner ids of the specialists working on the consult."""
        rows = await self.session.scalars(
            select(ConsultAssignee.practitioner_id).where(ConsultAssignee.consult_id == consult_id)
        )
        return set(rows.all())

    async def attachments(self, consult_id: str) -> list[ConsultAttachment]:
        """A consult's attachments, oldest first."""
        rows = await self.session.scalars(
            select(ConsultAttachment)
            .where(ConsultAttachment.consult_id == consult_id)
            .order_by(ConsultAttachment.created_at, ConsultAttachment.id)
        )
        return list(rows.all())

    async def attachment(self, consult_id: str, attachment_id: str) -> ConsultAttachment | None:
        """One attachment of this consult."""
        found: ConsultAttachment | None = await self.session.scalar(
            select(ConsultAttachment).where(
                ConsultAttachment.id == attachment_id,
                ConsultAttachment.consult_id == consult_id,
            )
        )
        return found

    async def user_names(self, ids: set[str]) -> dict[str, str]:
        """Full names of users by id."""
        rows = await self.session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))
        return {row.id: row.full_name for row in rows}


class AttachmentService:
    """Attaching files to consults and handing them back to the consult's parties."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        inspections: InspectionPool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._limit = settings.consults.attachment_max_bytes
        self._clock = clock
        self.store = BlobStore.in_data_dir(settings.data_dir)
        # Decoding runs in worker processes with a memory ceiling, one per core at a time.
        self._inspections = inspections

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def upload(
        self, principal: Principal, ctx: AuditContext, consult_id: str, source: FileSource
    ) -> AttachmentOut:
        """Receive, verify and keep a file for the requester or an assigned specialist."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            await self._uploadable(AttachmentRepository(uow.session), principal, consult_id)
        staged, filetype = await self.store.receive(source, self._limit)
        made: list[Staged] = []
        try:
            found = await self._inspections.inspect(staged.path, filetype)
            preview = await self._stage(found.preview, made)
            thumbnail = await self._stage(found.thumbnail, made)
            row = ConsultAttachment(
                id=new_id(),
                consult_id=consult_id,
                uploader_id=principal.user_id,
                filename=display_name(source.filename, filetype),
                content_type=filetype.content_type,
                kind=filetype.kind.value,
                size=staged.size,
                sha256=staged.sha256,
                meta=found.meta,
                preview_sha256=preview.sha256 if preview else None,
                thumbnail_sha256=thumbnail.sha256 if thumbnail else None,
                created_at=self._clock(),
            )
            return await self._keep(principal, ctx, row, [staged, *made])
        finally:
            for blob in (staged, *made):
                self.store.discard(blob)

    async def _stage(self, data: bytes | None, made: builtins.list[Staged]) -> Staged | None:
        """A rendering made in the worker, staged for keeping (and listed in `made`)."""
        if data is None:
            return None
        staged = await self.store.stage_bytes(data)
        made.append(staged)
        return staged

    async def _keep(
        self,
        principal: Principal,
        ctx: AuditContext,
        row: ConsultAttachment,
        blobs: builtins.list[Staged],
    ) -> AttachmentOut:
        """Put the files in place, check again (the consult may have changed meanwhile),
        then commit the row, its timeline entry and the audit record together.

        The files are kept before the transaction so that it does not hold the database
        (SQLite's one connection and write lock) through a rename and two fsyncs. If the
        check or the commit fails they stay unnamed: never served, and found by
        `telehealth attachments check`."""
        for blob in blobs:
            await self.store.keep(blob)
        async with self._uow() as uow:
            repo = AttachmentRepository(uow.session)
            await self._uploadable(repo, principal, row.consult_id, lock=True)
            await self._record(uow, ctx, row)
            out = _out(row, principal.full_name)
            await uow.commit()
            return out

    async def _record(self, uow: UnitOfWork, ctx: AuditContext, row: ConsultAttachment) -> None:
        uow.session.add(row)
        uow.session.add(
            ConsultEvent(
                id=new_id(),
                consult_id=row.consult_id,
                at=row.created_at,
                actor_id=row.uploader_id,
                kind="attachment_added",
                data={"attachment_id": row.id, "filename": row.filename, "kind": row.kind},
            )
        )
        await uow.flush()
        await AuditLog(uow.session, ctx).record(
            "consult.attachment_add",
            "consult",
            row.consult_id,
            {"attachment_id": row.id, "sha256": row.sha256, "size": row.size, "kind": row.kind},
        )

    async def list(
        self, principal: Principal, consult_id: str, ctx: AuditContext | None = None
    ) -> builtins.list[AttachmentOut]:
        """The consult's attachments, oldest first, for its parties; audited with `ctx`
        (None: the caller has audited its read of the consult already)."""
        async with self._uow() as uow:
            repo = AttachmentRepository(uow.session)
            await self._party(repo, principal, consult_id)
            rows = await repo.attachments(consult_id)
            names = await repo.user_names({r.uploader_id for r in rows})
            if ctx is not None:
                await AuditLog(uow.session, ctx).record(
                    "consult.read", "consult", consult_id, {"part": "attachments"}
                )
                await uow.commit()
            return [_out(r, names.get(r.uploader_id, "")) for r in rows]

    async def open(
        self,
        principal: Principal,
        ctx: AuditContext,
        consult_id: str,
        attachment_id: str,
        rendition: Rendition = "original",
    ) -> tuple[Path, ConsultAttachment]:
        """Where a party finds the file (or its PNG preview, or its thumbnail: the preview
        for a file kept before thumbnails were made); audited as a clinical read."""
        async with self._uow() as uow:
            repo = AttachmentRepository(uow.session)
            await self._party(repo, principal, consult_id)
            row = await repo.attachment(consult_id, attachment_id)
            if row is None:
                raise NotFound("No such attachment.")
            digest = digest_of(row, rendition)
            if digest is None:
                raise NotFound("This attachment has no preview.")
            path = self.store.path(digest)
            if not await asyncio.to_thread(path.is_file):
                log.error("attachment file missing", extra={"attachment_id": row.id})
                raise DomainError("The stored file is missing.", code=ErrorCode.INTERNAL)
            await AuditLog(uow.session, ctx).record(
                "consult.attachment_read",
                "consult",
                consult_id,
                {"attachment_id": row.id, "preview": rendition != "original"},
            )
            await uow.commit()
            return path, row

    async def _party(
        self, repo: AttachmentRepository, principal: Principal, consult_id: str, lock: bool = False
    ) -> tuple[ConsultRequest, policy.Viewer, set[str]]:
        consult = await repo.consult(consult_id, lock=lock)
        viewer = await repo.viewer(principal)
        assignees = await repo.assignees(consult_id) if consult else set()
        policy.ensure_clinical(viewer, consult, assignees)
        assert consult is not None
        return consult, viewer, assignees

    async def _uploadable(
        self, repo: AttachmentRepository, principal: Principal, consult_id: str, lock: bool = False
    ) -> ConsultRequest:
        consult, viewer, assignees = await self._party(repo, principal, consult_id, lock)
        if consult.requester_id != principal.user_id and viewer.practitioner_id not in assignees:
            raise Forbidden(
                "Only the requesting doctor and the specialists working on the consult "
                "can attach files."
            )
        if consult.status == ConsultStatus.CANCELLED.value:
            raise Conflict(
                "A cancelled consult takes no new files.", code=ErrorCode.INVALID_TRANSITION
            )
        return consult


def _out(row: ConsultAttachment, uploader_name: str) -> AttachmentOut:
    url = CONSULT_URL.format(consult_id=row.consult_id, attachment_id=row.id)
    return AttachmentOut(
        id=row.id,
        consult_id=row.consult_id,
        filename=row.filename,
        content_type=row.content_type,
        kind=row.kind,
        size=row.size,
        sha256=row.sha256,
        meta=row.meta,
        has_preview=row.preview_sha256 is not None,
        uploaded_by=UploaderRef(id=row.uploader_id, name=uploader_name),
        created_at=row.created_at,
        download_url=url,
        preview_url=url + "/preview" if row.preview_sha256 else None,
        thumbnail_url=url + "/thumbnail" if row.preview_sha256 else None,
    )


def digest_of(row: ConsultAttachment, rendition: Rendition) -> str | None:
    """The stored file that serves `rendition` of an attachment, if it has one."""
    if rendition == "original":
        return row.sha256
    if rendition == "thumbnail" and row.thumbnail_sha256:
        return row.thumbnail_sha256
    return row.preview_sha256
