"""Attaching files with a plain multipart form, for browsers without JavaScript: each
file goes to the same attachment service as the JSON upload."""

from __future__ import annotations

from aiohttp import BodyPartReader, MultipartReader, web

from telehealth import keys
from telehealth.auth.sessions import csrf_token_for
from telehealth.errors import DomainError, ErrorCode, InvalidInput
from telehealth.pages import consult_files, consult_request, consults
from telehealth.pages.consult_forms import consult_id
from telehealth.pages.forms import (
    CSRF_FIELD,
    UNREADABLE_FORM,
    FormState,
    PageQuery,
    ensure_csrf_token,
    see_other,
)
from telehealth.views.problem import status_for
from telehealth.views.routing import MALFORMED_BODY, Call, Routes
from telehealth.views.templating import N_

routes = Routes("pages")

# The form's own fields (the token, where to go back) are short and come first.
FIELD_LIMIT = 1024
MAX_FIELDS = 8
NO_FILE = N_("Choose at least one file to send.")
Part = BodyPartReader | MultipartReader | None


class FilePart:
    """One `file` part of the form, read chunk by chunk by the attachment service (the
    JSON endpoint's reader takes a single file; this form may hold several)."""

    def __init__(self, part: BodyPartReader) -> None:
        self._part = part

    @property
    def filename(self) -> str | None:
        """The name the browser gave the file."""
        return self._part.filename

    async def read_chunk(self, size: int) -> bytes:
        """Up to `size` bytes of the file; empty at its end."""
        try:
            return await self._part.read_chunk(size)
        except (*MALFORMED_BODY, ConnectionError):
            raise InvalidInput(UNREADABLE_FORM) from None


@routes.post(
    "/consults/{consult_id}/attachments",
    summary="Attach files without JavaScript",
    page=True,
    upload=True,
    query=PageQuery,
)
async def upload_files(call: Call[None, PageQuery]) -> web.Response:
    """Each `file` part in turn; a refusal shows the page again with its reason (the files
    sent before it are kept)."""
    cid = consult_id(call)
    reader = await _multipart(call.request)
    fields, part = await _leading_fields(reader)
    expected = csrf_token_for(call.request.app[keys.SETTINGS].secret_key, call.principal.session_id)
    ensure_csrf_token(fields.get(CSRF_FIELD), expected)
    back = fields.get("back")
    sent = 0
    try:
        while part is not None:
            if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
                await call.request.app[keys.ATTACHMENTS].upload(
                    call.principal, call.audit, cid, FilePart(part)
                )
                sent += 1
            part = await _next(reader)
        if not sent:
            raise InvalidInput(NO_FILE)
    except DomainError as error:
        if error.code is ErrorCode.NOT_FOUND:
            raise
        message = consult_files.refusal_text(error.code, error.detail)
        state = FormState(message=message, status=status_for(error.code))
        if back == "edit":
            return await consult_request.draft_view(call, state)
        return await consults.consult_view(call, state)
    if back == "edit":
        return see_other(f"/consults/{cid}/edit?done=saved#attachments")
    return see_other(f"/consults/{cid}?done=uploaded#attachments")


async def _multipart(request: web.Request) -> MultipartReader:
    try:
        return await request.multipart()
    except (*MALFORMED_BODY, ConnectionError):
        raise InvalidInput(UNREADABLE_FORM) from None


async def _next(reader: MultipartReader) -> Part:
    try:
        return await reader.next()
    except (*MALFORMED_BODY, ConnectionError):
        raise InvalidInput(UNREADABLE_FORM) from None


async def _leading_fields(reader: MultipartReader) -> tuple[dict[str, str], Part]:
    """The text fields before the first file, and that first file part (or None)."""
    fields: dict[str, str] = {}
    part = await _next(reader)
    while isinstance(part, BodyPartReader) and part.filename is None:
        if len(fields) == MAX_FIELDS:
            raise InvalidInput(UNREADABLE_FORM)
        fields[part.name or ""] = await _small_text(part)
        part = await _next(reader)
    return fields, part


async def _small_text(part: BodyPartReader) -> str:
    data = b""
    while chunk := await part.read_chunk(FIELD_LIMIT):
        data += chunk
        if len(data) > FIELD_LIMIT:
            raise InvalidInput(UNREADABLE_FORM)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InvalidInput(UNREADABLE_FORM) from None
