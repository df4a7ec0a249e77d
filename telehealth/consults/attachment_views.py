"""JSON endpoints of consult attachments: the multipart upload, the list, the download
and the PNG preview."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, web

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.consults.attachments import AttachmentService, Rendition, digest_of
from telehealth.consults.inspection import BY_CONTENT_TYPE
from telehealth.consults.schemas import AttachmentOut, DownloadQuery
from telehealth.errors import DomainError, ErrorCode
from telehealth.views.file_ranges import FileSlice, Unsatisfiable, wanted_range
from telehealth.views.routing import MALFORMED_BODY, Call, InputError, Routes

routes = Routes("attachments")
UPLOADERS = {Role.DOCTOR, Role.SPECIALIST}
READERS = {Role.DOCTOR, Role.SPECIALIST, Role.ADMIN}
ATTACHMENTS = "/api/v1/consults/{consult_id}/attachments"
ATTACHMENT = ATTACHMENTS + "/{attachment_id}"
FILE_PART = "file"
# aiohttp's own message would echo the bytes it could not parse.
MALFORMED = "The multipart body is malformed."
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_SLACK = 64 * 1024
# A clinical file stays in no cache (a shared computer at a commune station): each read
# is checked and audited; the ETag still lets a resumed download check it is the same.
CACHE_CONTROL = "private, no-store"
# A file shown in the browser runs nothing of its own; the site-wide `object-src 'none'`
# would stop the browser's PDF viewer, and our pages may frame a file (never others).
INLINE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "object-src 'self'; frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


class MultipartFile:
    """The `file` part of a multipart body, read chunk by chunk. At its end the body must
    close properly with nothing after it; a body that breaks off or is malformed becomes
    a 400 problem rather than an unhandled error."""

    def __init__(self, reader: MultipartReader, part: BodyPartReader) -> None:
        self._reader = reader
        self._part = part

    @property
    def filename(self) -> str | None:
        """The name the client gave the file."""
        return self._part.filename

    async def read_chunk(self, size: int) -> bytes:
        """Up to `size` bytes of the file; empty at its end."""
        try:
            chunk = await self._part.read_chunk(size)
            if not chunk and (extra := await self._reader.next()) is not None:
                name = getattr(extra, "name", None) or ""
                raise _part_error(name, "Send one part, named 'file'.", "extra_forbidden")
            return chunk
        except ConnectionError:
            raise InputError("The upload was interrupted before the file was complete.") from None
        except MALFORMED_BODY:
            raise InputError(MALFORMED) from None


async def upload_source(request: web.Request) -> MultipartFile:
    """The part named `file` of a multipart/form-data request; a body that is clearly too
    large for the attachment limit is refused before a byte of it is read."""
    limit = request.app[keys.SETTINGS].consults.attachment_max_bytes
    if request.content_length is not None and request.content_length > limit + MULTIPART_SLACK:
        raise DomainError(
            f"The file is larger than the limit of {limit} bytes.",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    try:
        reader = await request.multipart()
        part = await reader.next()
    except ConnectionError:
        raise InputError("The upload was interrupted.") from None
    except MALFORMED_BODY:
        raise InputError(MALFORMED) from None
    if isinstance(part, BodyPartReader) and part.name == FILE_PART:
        return MultipartFile(reader, part)
    if part is None:
        raise _part_error(FILE_PART, "A part named 'file' is required.", "missing")
    name = getattr(part, "name", None) or ""
    raise _part_error(name, "Send one part, named 'file'.", "extra_forbidden")


def _part_error(name: str, message: str, kind: str) -> InputError:
    return InputError(
        f"Invalid body: {message}",
        extra={"errors": [{"location": ["body", name], "message": message, "type": kind}]},
    )


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII `filename` for old clients, the exact name in UTF-8 as
    `filename*` (RFC 5987) for the rest, so Vietnamese names arrive intact."""
    fallback = ascii_name(filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def ascii_name(filename: str) -> str:
    """`Ảnh chụp đầu.jpg` -> `Anh chup dau.jpg`: accents dropped, anything unsafe `_`."""
    plain = unicodedata.normalize("NFKD", filename.replace("đ", "d").replace("Đ", "D"))
    unaccented = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9._()+ -]", "_", unaccented).strip() or "attachment"


async def file_response(
    request: web.Request,
    path: Path,
    *,
    content_type: str,
    digest: str,
    filename: str,
    inline: bool,
) -> web.StreamResponse:
    """A stored file with its type, name and digest as ETag; 304 when the client has it,
    206 with the one byte range it asks for (a download resumed), 416 past the end."""
    etag = f'"{digest}"'
    cached = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if any(tag.value in {digest, "*"} for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=cached)
    headers = {
        **cached,
        "Content-Type": content_type,
        "Content-Disposition": content_disposition("inline" if inline else "attachment", filename),
        "X-Content-Type-Options": "nosniff",
        **(INLINE_HEADERS if inline else {}),
    }
    headers["Accept-Ranges"] = "bytes"
    size = (await asyncio.to_thread(path.stat)).st_size
    try:
        piece = wanted_range(request, size, etag)
    except Unsatisfiable:
        headers = {**cached, "Content-Range": f"bytes */{size}"}
        return web.Response(status=416, headers=headers)
    if piece is None:
        return web.Response(body=FileSlice(path, 0, size), headers=headers)
    start, stop = piece
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(status=206, body=FileSlice(path, start, stop - start), headers=headers)


def _service(call: Call[Any, Any]) -> AttachmentService:
    return call.request.app[keys.ATTACHMENTS]


@routes.post(
    ATTACHMENTS,
    summary="Attach a file to a consult",
    roles=UPLOADERS,
    upload=True,
    response=AttachmentOut,
    status=201,
    errors=(404, 409, 413, 415, 422),
)
async def upload(call: Call[None, Any]) -> AttachmentOut:
    """JPEG, PNG, PDF or DICOM in the part `file`; by the requester or an assigned
    specialist. The type is read from the content, never from the name."""
    source = await upload_source(call.request)
    return await _service(call).upload(call.principal, call.audit, call.path("consult_id"), source)


@routes.get(
    ATTACHMENTS,
    summary="A consult's attachments",
    roles=READERS,
    response=list[AttachmentOut],
    errors=(404,),
)
async def list_attachments(call: Call[None, Any]) -> list[AttachmentOut]:
    """Oldest first; for the consult's parties only."""
    return await _service(call).list(call.principal, call.path("consult_id"), call.audit)


@routes.get(
    ATTACHMENT,
    summary="Download an attachment",
    roles=READERS,
    query=DownloadQuery,
    produces=tuple(BY_CONTENT_TYPE),
    errors=(404,),
)
async def download(call: Call[None, DownloadQuery]) -> web.StreamResponse:
    """The file as uploaded; `inline=true` lets a browser show it. Audited."""
    path, row = await _service(call).open(
        call.principal, call.audit, call.path("consult_id"), call.path("attachment_id")
    )
    return await file_response(
        call.request,
        path,
        content_type=row.content_type,
        digest=row.sha256,
        filename=row.filename,
        inline=call.query.inline,
    )


@routes.get(
    ATTACHMENT + "/preview",
    summary="An attachment's PNG preview",
    roles=READERS,
    produces=("image/png",),
    errors=(404,),
)
async def preview(call: Call[None, Any]) -> web.StreamResponse:
    """At most 512 pixels a side: a DICOM's first frame windowed, or a smaller image.
    404 `not_found` for a file without a preview (PDF). Audited."""
    return await _rendition(call, "preview")


@routes.get(
    ATTACHMENT + "/thumbnail",
    summary="An attachment's thumbnail",
    roles=READERS,
    produces=("image/jpeg", "image/png"),
    errors=(404,),
)
async def thumbnail(call: Call[None, Any]) -> web.StreamResponse:
    """A JPEG of at most 192 pixels a side, for lists (the PNG preview for a file kept
    before thumbnails were made). 404 `not_found` for a PDF. Audited."""
    return await _rendition(call, "thumbnail")


async def _rendition(call: Call[None, Any], rendition: Rendition) -> web.StreamResponse:
    path, row = await _service(call).open(
        call.principal,
        call.audit,
        call.path("consult_id"),
        call.path("attachment_id"),
        rendition,
    )
    digest = digest_of(row, rendition)
    assert digest is not None
    is_preview = digest == row.preview_sha256
    return await file_response(
        call.request,
        path,
        content_type="image/png" if is_preview else "image/jpeg",
        digest=digest,
        filename=f"{Path(row.filename).stem}-{'preview.png' if is_preview else 'thumbnail.jpg'}",
        inline=True,
    )
