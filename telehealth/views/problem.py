"""The one place domain errors become HTTP answers (problem+json, RFC 9457)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from telehealth.errors import DomainError, ErrorCode

PROBLEM_TYPE = "application/problem+json"

STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.SLOT_TAKEN: 409,
    ErrorCode.OVERLAPPING_APPOINTMENT: 409,
    ErrorCode.OVERLAPPING_SHIFT: 409,
    ErrorCode.PRACTITIONER_INELIGIBLE: 422,
    ErrorCode.FACILITY_INELIGIBLE: 422,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.UNPROCESSABLE: 422,
    ErrorCode.INVALID_FILE: 422,
    ErrorCode.INVALID_DICOM: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.ROOM_NOT_OPEN: 409,
    ErrorCode.ROOM_ENDED: 409,
    ErrorCode.OUTCOME_EXISTS: 409,
    ErrorCode.REPLACED: 409,
    ErrorCode.SESSION_FULL: 409,
    ErrorCode.UNSUPPORTED_MEDIA: 422,
    ErrorCode.RELAY_UNAVAILABLE: 503,
    ErrorCode.RELAY_FULL: 503,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}

TITLES: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_ERROR: "Invalid input",
    ErrorCode.MALFORMED_JSON: "Malformed JSON",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Unsupported media type",
    ErrorCode.PAYLOAD_TOO_LARGE: "Request body too large",
    ErrorCode.UNAUTHENTICATED: "Not signed in",
    ErrorCode.INVALID_CREDENTIALS: "Invalid username or password",
    ErrorCode.FORBIDDEN: "Not allowed",
    ErrorCode.CSRF_FAILED: "Cross-site request refused",
    ErrorCode.NOT_FOUND: "Not found",
    ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed",
    ErrorCode.CONFLICT: "Conflict",
    ErrorCode.SLOT_TAKEN: "Slot already taken",
    ErrorCode.OVERLAPPING_APPOINTMENT: "Overlapping appointment",
    ErrorCode.OVERLAPPING_SHIFT: "Overlapping on-call shift",
    ErrorCode.PRACTITIONER_INELIGIBLE: "Practitioner cannot be on call here",
    ErrorCode.FACILITY_INELIGIBLE: "Facility keeps no on-call rota",
    ErrorCode.INVALID_TRANSITION: "Not possible in the current state",
    ErrorCode.ALREADY_EXISTS: "Already exists",
    ErrorCode.UNPROCESSABLE: "Cannot be processed",
    ErrorCode.INVALID_FILE: "The file is damaged or not what it claims to be",
    ErrorCode.INVALID_DICOM: "The DICOM file is damaged or incomplete",
    ErrorCode.RATE_LIMITED: "Too many requests",
    ErrorCode.ROOM_NOT_OPEN: "The room is not open yet",
    ErrorCode.ROOM_ENDED: "The room has ended",
    ErrorCode.OUTCOME_EXISTS: "The outcome is already recorded",
    ErrorCode.REPLACED: "Joined again from elsewhere",
    ErrorCode.SESSION_FULL: "The session is full",
    ErrorCode.UNSUPPORTED_MEDIA: "The media cannot be relayed",
    ErrorCode.RELAY_UNAVAILABLE: "The media relay is restarting",
    ErrorCode.RELAY_FULL: "The media relay is full",
    ErrorCode.REQUEST_TIMEOUT: "The request took too long to arrive",
    ErrorCode.INTERNAL: "Internal error",
    ErrorCode.UNAVAILABLE: "Service unavailable",
}

CODE_BY_HTTP_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def status_for(code: ErrorCode) -> int:
    """The HTTP status of a domain error code."""
    return STATUS_BY_CODE.get(code, 500)


def problem_body(
    code: ErrorCode, detail: str, request_id: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The problem+json document for one error."""
    body: dict[str, Any] = {
        "type": f"https://telehealth.invalid/problems/{code.value}",
        "title": TITLES.get(code, code.value),
        "status": status_for(code),
        "detail": detail,
        "code": code.value,
    }
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    return body


def problem_response(
    code: ErrorCode,
    detail: str,
    *,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A problem+json response."""
    body = problem_body(code, detail, request_id, extra)
    return web.Response(
        status=body["status"],
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def from_domain_error(error: DomainError, request_id: str | None) -> web.Response:
    """Render a `DomainError`, adding Retry-After where the error carries one."""
    headers = None
    retry_after = error.extra.get("retry_after")
    if isinstance(retry_after, int):
        headers = {"Retry-After": str(retry_after)}
    return problem_response(
        error.code, error.detail, request_id=request_id, extra=error.extra, headers=headers
    )
