"""Consult rows written straight to the database, for tests that need a record the
JSON API does not make cheaply (an attachment without a real file)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telehealth import keys
from telehealth.consults.models import ConsultAttachment
from telehealth.db.base import new_id
from telehealth.db.uow import UnitOfWork
from tests.support.network import Network

SHA = "5d41402abc4b2a76b9719d911017c592" * 2


async def attach(
    net: Network, consult_id: str, uploader: str, kind: str, meta: dict[str, Any]
) -> str:
    """An attachment row as the upload would write it (the file itself is not needed)."""
    types = {"dicom": ("ct-nguc.dcm", "application/dicom"), "image": ("ecg.png", "image/png")}
    filename, content_type = types[kind]
    row = ConsultAttachment(
        id=new_id(),
        consult_id=consult_id,
        uploader_id=net.users[uploader],
        filename=filename,
        content_type=content_type,
        kind=kind,
        size=123456,
        sha256=SHA,
        meta=meta,
        created_at=datetime.now(UTC),
    )
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        uow.session.add(row)
        await uow.commit()
    return row.id
