"""HTML form plumbing of the pages: anti-forgery check, parsing, errors to show, redirects."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
from aiohttp import web
from multidict import MultiDict
from pydantic import BaseModel, ConfigDict

from telehealth import keys
from telehealth.auth.password_rules import WEAK_PASSWORD
from telehealth.auth.sessions import csrf_token_for, unmask_csrf_token
from telehealth.errors import DomainError, ErrorCode, InvalidInput
from telehealth.views.i18n import SUPPORTED_LOCALES
from telehealth.views.routing import MALFORMED_BODY
from telehealth.views.templating import N_

M = TypeVar("M", bound=BaseModel)

CSRF_FIELD = "csrf_token"
CSRF_REFUSED = N_(
    "The form has expired or did not come from this site. Reload the page and try again."
)
UNREADABLE_FORM = N_("The form could not be read. Reload the page and try again.")
NOT_ECHOED = frozenset({"password", CSRF_FIELD})

# What to tell a person about a field the model refused (pydantic's own messages are
# English and technical); every entry is translated where it is shown.
FIELD_MESSAGES: dict[str, str] = {
    "username": N_("Use 3 to 64 characters: lower-case letters, digits, '.', '_' or '-'."),
    "password": N_("The password needs at least 10 characters."),
    "full_name": N_("Enter the full name."),
    "phone": N_("Enter a Vietnamese mobile number such as 0912345678."),
    "email": N_("Enter a valid e-mail address such as name@example.vn."),
    "date_of_birth": N_("Enter a valid date of birth."),
    "sex": N_("Choose one of the options."),
    "national_id": N_("Enter the 12 digits of the citizen identity card (CCCD)."),
    "insurance_number": N_(
        "Enter the health insurance (BHYT) number: 15 characters or the 10-digit code."
    ),
    "address": N_("The address is too long."),
    "code": N_("Use 2 to 32 capital letters, digits, '-' or '_'."),
    "name": N_("Enter the name."),
    "level": N_("Choose one of the options."),
    "province": N_("Enter the province."),
    "timezone": N_("Enter a time zone such as Asia/Ho_Chi_Minh."),
    "parent_id": N_("Choose a facility from the list."),
    "facility_id": N_("Choose a facility from the list."),
    "home_facility_id": N_("Choose a facility from the list."),
    "roles": N_("Choose at least one role."),
    "specialties": N_("Choose at most 10 specialties."),
    "licence_number": N_("The licence number is too long."),
}
CHECK_FIELD = N_("Check this field.")
USERNAME_TAKEN = N_("This username is already taken; choose another.")
NATIONAL_ID_MISMATCH = N_(
    "The citizen identity number does not match the date of birth or the sex."
)
FUTURE_BIRTH = N_("The date of birth cannot be in the future.")
CROSS_FIELD_MESSAGES = (
    ("date_of_birth is in the future", ("date_of_birth", FUTURE_BIRTH)),
    ("12 digits", ("national_id", FIELD_MESSAGES["national_id"])),
    ("province code", ("national_id", FIELD_MESSAGES["national_id"])),
)

# Rules the services enforce, by their English detail: which field they concern and
# what to show instead.
SERVICE_MESSAGES: dict[str, tuple[str, str]] = {
    "facility_id names no facility.": ("facility_id", FIELD_MESSAGES["facility_id"]),
    "parent_id names no facility.": ("parent_id", FIELD_MESSAGES["parent_id"]),
    "home_facility_id names no facility.": (
        "home_facility_id",
        FIELD_MESSAGES["home_facility_id"],
    ),
    "Clinicians, coordinators and trainers need a facility_id.": (
        "facility_id",
        N_("Doctors, specialists, coordinators and trainers need a facility."),
    ),
    "A specialist needs at least one specialty.": (
        "specialties",
        N_("A specialist needs at least one specialty."),
    ),
    WEAK_PASSWORD: (
        "password",
        N_(
            "This password is too easy to guess: avoid common passwords"
            " and your own name, username or facility."
        ),
    ),
}


class PageQuery(BaseModel):
    """The query string of a page: the language switch, and unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    lang: str | None = pydantic.Field(default=None, max_length=8)


class ListQuery(PageQuery):
    """A page that lists things, one page at a time."""

    cursor: str | None = pydantic.Field(default=None, max_length=200)
    created: str | None = pydantic.Field(default=None, max_length=64)


@dataclass
class FormState:
    """What a form shows: the values sent back, the errors per field, a message, a status."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    message_args: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    # The fields in the order the browser sent them, which is the page's order.
    order: tuple[str, ...] = ()

    @property
    def first_invalid(self) -> str | None:
        """The field the page puts the focus on (`autofocus`): the first one in error, in
        the page's order where the form was sent."""
        return next((n for n in self.order if n in self.errors), next(iter(self.errors), None))

    def value(self, name: str, default: str = "") -> str:
        """The value of a field to show again (never a password)."""
        return self.values.get(name, default)

    def chosen(self, name: str) -> list[str]:
        """The options chosen in a multi-valued field."""
        return self.lists.get(name, [])

    @classmethod
    def of(cls, form: MultiDict[str], lists: tuple[str, ...] = ()) -> FormState:
        """The state of a submitted form, ready to be shown again."""
        return cls(
            values={k: v for k, v in form.items() if k not in NOT_ECHOED and k not in lists},
            lists={name: form.getall(name, []) for name in lists},
            order=tuple(dict.fromkeys(form.keys())),
        )


class FormInvalid(InvalidInput):
    """A submitted form that must be shown again with messages next to its fields."""

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        super().__init__(message or "The form has errors.")
        self.errors = errors
        self.message = message


async def read_form(request: web.Request, *, check_csrf: bool = True) -> MultiDict[str]:
    """The text fields of a posted form; a signed-in caller's form must carry the CSRF token.

    Sign-in and registration forms have no session yet (`check_csrf=False`): the
    Origin check of the CSRF middleware protects them.
    """
    try:
        posted = await request.post()
    except MALFORMED_BODY:
        # Undecodable text, a multipart body without its boundary or with a part header
        # that does not parse, broken compression.
        raise InvalidInput(UNREADABLE_FORM) from None
    form: MultiDict[str] = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
    principal = request.get(keys.PRINCIPAL)
    if check_csrf and principal is not None:
        expected = csrf_token_for(request.app[keys.SETTINGS].secret_key, principal.session_id)
        ensure_csrf_token(form.get(CSRF_FIELD), expected)
    return form


def ensure_csrf_token(given: str | None, expected: str) -> None:
    """Refuse a missing or wrong anti-forgery token (compared in constant time)."""
    if not given or not hmac.compare_digest(unmask_csrf_token(given).encode(), expected.encode()):
        raise DomainError(CSRF_REFUSED, code=ErrorCode.CSRF_FAILED)


def parse_form(
    model: type[M], form: MultiDict[str], lists: tuple[str, ...] = (), **fixed: Any
) -> M:
    """Build `model` from the form: blanks are omitted, `lists` are multi-valued fields."""
    data: dict[str, Any] = {}
    for name in model.model_fields:
        if name in lists:
            data[name] = [v for v in form.getall(name, []) if v]
        elif form.get(name, "").strip():
            data[name] = form[name]
    data.update(fixed)
    try:
        # Form values are all text: let pydantic coerce them (dates, enums) here.
        return model.model_validate(data, strict=False)
    except pydantic.ValidationError as exc:
        raise FormInvalid(_field_errors(exc)) from None


def _field_errors(exc: pydantic.ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        if error["loc"]:
            name = str(error["loc"][0])
            errors.setdefault(name, FIELD_MESSAGES.get(name, CHECK_FIELD))
            continue
        # Rules across fields (a model validator) carry no location: place them by wording.
        name, message = next(
            (found for words, found in CROSS_FIELD_MESSAGES if words in error["msg"]),
            ("national_id", NATIONAL_ID_MISMATCH),
        )
        errors.setdefault(name, message)
    return errors


def form_failure(
    form: MultiDict[str],
    error: DomainError,
    *,
    lists: tuple[str, ...] = (),
    conflict: tuple[str | None, str] | None = None,
) -> FormState:
    """The form shown again after a refused submission: its values, messages and status."""
    state = FormState.of(form, lists)
    if isinstance(error, FormInvalid):
        state.errors, state.message, state.status = error.errors, error.message, 400
    elif error.code in {ErrorCode.CONFLICT, ErrorCode.ALREADY_EXISTS}:
        name, message = conflict or (None, error.detail)
        state.status = 409
        if name is None:
            state.message = message
        else:
            state.errors = {name: message}
    elif error.detail in SERVICE_MESSAGES:
        name, message = SERVICE_MESSAGES[error.detail]
        state.errors, state.status = {name: message}, 400
    else:
        state.message, state.status = error.detail, 400
    return state


def use_form_locale(request: web.Request, form: MultiDict[str]) -> None:
    """Answer a form in the language it was shown in (its hidden `lang` field)."""
    lang = form.get("lang")
    if lang in SUPPORTED_LOCALES:
        request[keys.LOCALE] = lang


def see_other(location: str) -> web.Response:
    """A 303 redirect after a form (the browser follows it with a GET)."""
    return web.Response(status=303, headers={"Location": location})


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return default
    return target
