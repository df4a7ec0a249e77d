"""Domain errors with stable machine codes; they know nothing about HTTP or Socket.IO."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable machine codes that clients may rely on."""

    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    SLOT_TAKEN = "slot_taken"
    OVERLAPPING_APPOINTMENT = "overlapping_appointment"
    OVERLAPPING_SHIFT = "overlapping_shift"
    PRACTITIONER_INELIGIBLE = "practitioner_ineligible"
    FACILITY_INELIGIBLE = "facility_ineligible"
    INVALID_TRANSITION = "invalid_transition"
    ALREADY_EXISTS = "already_exists"
    UNPROCESSABLE = "unprocessable"
    INVALID_FILE = "invalid_file"
    INVALID_DICOM = "invalid_dicom"
    RATE_LIMITED = "rate_limited"
    ROOM_NOT_OPEN = "room_not_open"
    ROOM_ENDED = "room_ended"
    OUTCOME_EXISTS = "outcome_exists"
    REPLACED = "replaced"
    SESSION_FULL = "session_full"
    # The media relay (relay rooms' publish and subscribe on `/rtc`).
    UNSUPPORTED_MEDIA = "unsupported_media"
    RELAY_UNAVAILABLE = "relay_unavailable"
    RELAY_FULL = "relay_full"

    REQUEST_TIMEOUT = "request_timeout"
    INTERNAL = "internal_error"
    UNAVAILABLE = "unavailable"


class DomainError(Exception):
    """A failure a caller can act on: a code, a human detail and optional extra fields."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        detail: str,
        *,
        code: ErrorCode | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra: dict[str, Any] = extra or {}


class InvalidInput(DomainError):
    """The input is well formed but breaks a rule of the domain."""

    code = ErrorCode.VALIDATION_ERROR


class Unprocessable(DomainError):
    """The input is valid but cannot be acted on in the current state."""

    code = ErrorCode.UNPROCESSABLE


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = ErrorCode.UNAUTHENTICATED


class InvalidCredentials(DomainError):
    """Wrong username or password; deliberately the same for both."""

    code = ErrorCode.INVALID_CREDENTIALS


class Forbidden(DomainError):
    """Signed in, but not allowed to do this."""

    code = ErrorCode.FORBIDDEN


class NotFound(DomainError):
    """The object does not exist, or its existence must not be revealed."""

    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    """The change collides with the current state (a taken slot, a duplicate key)."""

    code = ErrorCode.CONFLICT


class RateLimited(DomainError):
    """Too many attempts; `retry_after` says how many seconds to wait."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after
