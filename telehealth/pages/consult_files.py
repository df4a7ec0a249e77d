"""A consult's files on the pages: the list with the upload form, and one file shown large."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.consults import schemas as s
from telehealth.consults.models import ConsultStatus
from telehealth.errors import ErrorCode, NotFound
from telehealth.pages.consult_forms import consult_id, local_time
from telehealth.pages.forms import PageQuery
from telehealth.pages.timetable import checked_id, here
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

FILES = "/consults/{consult_id}/attachments"

# Why a file was refused, in words a doctor can act on (the API's `detail` is English and
# names the library's view of the file). None of these is cured by sending the file again.
REFUSALS: dict[ErrorCode, str] = {
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: N_(
        "Only JPEG or PNG photos, PDF documents and DICOM images can be attached."
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: N_("This file is larger than the limit."),
    ErrorCode.INVALID_FILE: N_(
        "This file is damaged or too large to open, or its content is not what its type "
        "says. Save it again or export it once more, then attach the new copy."
    ),
    ErrorCode.INVALID_DICOM: N_(
        "This DICOM file cannot be read (damaged, or too large to open). Export it again "
        "from the imaging system, then attach the new copy."
    ),
    ErrorCode.FORBIDDEN: N_(
        "Only the requesting doctor and the specialists working on the consult can attach files."
    ),
    ErrorCode.INVALID_TRANSITION: N_("This consult takes no new files any more."),
}
# Any other refusal (the server's own trouble: sending again may help).
REFUSED_OTHERWISE = N_("The server could not take the file just now.")


def refusal_text(code: ErrorCode, detail: str) -> str:
    """The message of a refused upload shown on the page (translated where rendered)."""
    return REFUSALS.get(code, detail)


@dataclass(frozen=True)
class UploadForm:
    """Where the page's upload form sends files: the JSON endpoint (JavaScript) or the
    page route (without JavaScript), and the size limit it announces."""

    api_url: str
    page_url: str
    max_bytes: int
    back: str
    refusals: dict[str, str]


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
            refusals={code.value: text for code, text in REFUSALS.items()},
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
