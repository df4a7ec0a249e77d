"""HTML error pages for browser requests (API callers get problem+json instead)."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.errors import DomainError, ErrorCode
from telehealth.views.i18n import request_locale
from telehealth.views.problem import status_for
from telehealth.views.templating import N_, render_page

# Page titles per code, marked for translation (problem+json keeps its English titles).
TITLES: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_ERROR: N_("Invalid input"),
    ErrorCode.MALFORMED_JSON: N_("Malformed JSON"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: N_("Unsupported media type"),
    ErrorCode.PAYLOAD_TOO_LARGE: N_("Request body too large"),
    ErrorCode.UNAUTHENTICATED: N_("Not signed in"),
    ErrorCode.INVALID_CREDENTIALS: N_("Invalid username or password"),
    ErrorCode.FORBIDDEN: N_("Not allowed"),
    ErrorCode.CSRF_FAILED: N_("Cross-site request refused"),
    ErrorCode.NOT_FOUND: N_("Not found"),
    ErrorCode.METHOD_NOT_ALLOWED: N_("Method not allowed"),
    ErrorCode.CONFLICT: N_("Conflict"),
    ErrorCode.ALREADY_EXISTS: N_("Already exists"),
    ErrorCode.SLOT_TAKEN: N_("Slot already taken"),
    ErrorCode.OVERLAPPING_APPOINTMENT: N_("Overlapping appointment"),
    ErrorCode.OVERLAPPING_SHIFT: N_("Overlapping on-call shift"),
    ErrorCode.PRACTITIONER_INELIGIBLE: N_("Practitioner cannot be on call here"),
    ErrorCode.FACILITY_INELIGIBLE: N_("Facility keeps no on-call rota"),
    ErrorCode.INVALID_TRANSITION: N_("Not possible in the current state"),
    ErrorCode.UNPROCESSABLE: N_("Cannot be processed"),
    ErrorCode.INVALID_FILE: N_("The file is damaged or not what it claims to be"),
    ErrorCode.INVALID_DICOM: N_("The DICOM file is damaged or incomplete"),
    ErrorCode.RATE_LIMITED: N_("Too many requests"),
    ErrorCode.ROOM_NOT_OPEN: N_("The room is not open yet"),
    ErrorCode.ROOM_ENDED: N_("The room has ended"),
    ErrorCode.OUTCOME_EXISTS: N_("The outcome is already recorded"),
    ErrorCode.REPLACED: N_("Joined again from elsewhere"),
    ErrorCode.SESSION_FULL: N_("The session is full"),
    ErrorCode.UNSUPPORTED_MEDIA: N_("The media cannot be relayed"),
    ErrorCode.RELAY_UNAVAILABLE: N_("The media relay is restarting"),
    ErrorCode.RELAY_FULL: N_("The media relay is full"),
    ErrorCode.REQUEST_TIMEOUT: N_("The request took too long to arrive"),
    ErrorCode.INTERNAL: N_("Internal error"),
    ErrorCode.UNAVAILABLE: N_("Service unavailable"),
}

# Details raised by the edge and the services that a browser user commonly meets; the
# page shows their translation when the catalogue has one, the English text otherwise.
KNOWN_DETAILS = (
    N_("Sign in first."),
    N_("Your role does not allow this."),
    N_("The request did not come from this site."),
    N_("The request body is too large."),
    N_("Too many failed sign-in attempts; try again later."),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("No such patient."),
    N_("No such user."),
    N_("You can register patients only at your own facility."),
    N_("You can list only your own facility's patients."),
    N_("You are not attached to a facility."),
)


async def html_error(request: web.Request, error: DomainError) -> web.Response:
    """A page that says what went wrong, in the request's language, with the right status."""
    _ensure_locale(request)
    status = status_for(error.code)
    context = {
        "status": status,
        "title": TITLES.get(error.code, N_("Error")),
        "detail": error.detail,
        "code": error.code.value,
        "request_id": request.get(keys.REQUEST_ID, ""),
    }
    response = render_page(request, "error.html", context, status=status)
    retry_after = error.extra.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def _ensure_locale(request: web.Request) -> None:
    # Errors raised by the CSRF or auth middleware come before the locale middleware
    # has run; choose the language the same way so the page is not always Vietnamese.
    if keys.LOCALE in request:
        return
    request[keys.LOCALE] = request_locale(request)
