"""A consult's files on the pages: the list with the upload form, and one file shown large."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.consults import schemas as s
from telehealth.consults.models import ConsultStatus
from telehealth.errors import NotFound
from telehealth.pages.consult_forms import consult_id, local_time
from telehealth.pages.forms import PageQuery
from telehealth.pages.timetable import checked_id, here
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")

FILES = "/consults/{consult_id}/attachments"


@dataclass(frozen=True)
class UploadForm:
    """Where the page's upload form sends files: the JSON endpoint (JavaScript) or the
    page route (without JavaScript), and the size limit it announces."""

    api_url: str
    page_url: str
    max_bytes: int
    back: str


async def upload_context(
    call: Call[Any, Any], consult: s.ConsultOut, *, may_upload: bool, back: str = "consult"
) -> dict[str, Any]:
    """The attachments of a consult the caller sees clinically, and the upload form if
    they may add files (the requester and the assigned specialists)."""
    attachments = await call.request.app[keys.ATTACHMENTS].list(call.principal, consult.id)
    upload = None
    if may_upload and consult.status is not ConsultStatus.CANCELLED:
        upload = UploadForm(
            api_url=f"/api/v1/consults/{consult.id}/attachments",
            page_url=f"/consults/{consult.id}/attachments",
            max_bytes=call.request.app[keys.SETTINGS].consults.attachment_max_bytes,
            back=back,
        )
    return {"attachments": attachments, "upload": upload}


@routes.get(
    FILES + "/{attachment_id}",
    summary="One consult attachment page",
    page=True,
    query=PageQuery,
)
async def attachment_page(call: Call[None, PageQuery]) -> web.Response:
    """One file shown large (image, DICOM preview with its metadata, PDF link)."""
    wanted = checked_id(call.path("attachment_id"), "No such attachment.")
    consult = await call.request.app[keys.CONSULTS].get(
        call.principal, call.audit, consult_id(call)
    )
    if not consult.clinical:
        raise NotFound("No such consult.")
    files = await call.request.app[keys.ATTACHMENTS].list(call.principal, consult.id)
    index = next((i for i, a in enumerate(files) if a.id == wanted), None)
    if index is None:
        raise NotFound("No such attachment.")
    context = {
        "consult": consult,
        "attachment": files[index],
        "previous": files[index - 1] if index > 0 else None,
        "following": files[index + 1] if index + 1 < len(files) else None,
        "position": index + 1,
        "count": len(files),
        "local": local_time(call.request),
        "here": here(call.request),
    }
    return render_page(call.request, "consult_attachment.html", context)
