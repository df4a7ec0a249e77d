"""Request and response models of the accounts and auth API."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from telehealth.accounts import validators
from telehealth.accounts.models import FacilityLevel, Role


class In(BaseModel):
    """Base of request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class Out(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(from_attributes=True)


class QueryIn(BaseModel):
    """Base of query strings: strings are coerced, unknown parameters refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Patterns below are for the document only (what each validator accepts, said so that
# generated clients and the contract fuzzer know it); the validators run as before.
USERNAME_PATTERN = r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{2,63}\s*$"
INSURANCE_PATTERN = r"^ *(?:[A-Za-z] *[A-Za-z] *[1-5](?: *[0-9]){12}|[0-9](?: *[0-9]){9}) *$"
NATIONAL_ID_PATTERN = r"^[0-9]{12}$"
Username = Annotated[
    str,
    Field(min_length=3, max_length=64, json_schema_extra={"pattern": USERNAME_PATTERN}),
    AfterValidator(validators.check_username),
]
Password = Annotated[str, Field(min_length=1, max_length=256)]
NewPassword = Annotated[str, Field(min_length=10, max_length=256)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# The document states what `normalise_phone` accepts (separators anywhere), so that
# generated clients and the contract fuzzer know it; pydantic itself runs the validator.
PHONE_PATTERN = (
    r"^[\s.()-]*(?:0|\+[\s.()-]*8[\s.()-]*4)[\s.()-]*[35789](?:[\s.()-]*[0-9]){8}[\s.()-]*$"
)
Phone = Annotated[
    str,
    Field(max_length=20, json_schema_extra={"pattern": PHONE_PATTERN}),
    AfterValidator(validators.normalise_phone),
]
# A patient's number to call back on: a landline is enough (no SMS goes to it).
CONTACT_PHONE_PATTERN = (
    r"^[\s.()-]*(?:0|\+[\s.()-]*8[\s.()-]*4)[\s.()-]*"
    r"(?:[35789](?:[\s.()-]*[0-9]){8}|2(?:[\s.()-]*[0-9]){9})[\s.()-]*$"
)
ContactPhone = Annotated[
    str,
    Field(max_length=20, json_schema_extra={"pattern": CONTACT_PHONE_PATTERN}),
    AfterValidator(validators.normalise_contact_phone),
]


def _time_zones(schema: dict[str, Any]) -> None:
    # Read when the document is built, never at import.
    schema["enum"] = sorted(available_timezones())


Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Locale = Literal["vi", "en"]
Sex = Literal["male", "female", "other"]
Insurance = Annotated[
    str,
    Field(max_length=20, json_schema_extra={"pattern": INSURANCE_PATTERN}),
    AfterValidator(validators.check_insurance_number),
]


def _not_null(value: Any) -> Any:
    """A PATCH field may be left out, but null would blank a column that needs a value."""
    if value is None:
        raise ValueError("may be left out, but not set to null")
    return value


NotNull = AfterValidator(_not_null)


def _undocumented_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


# For a field that may be left out but never set to null:
# `Annotated[T | Absent, NotNull, NoDefault] = None`. None stays the "left out" default
# for Python; the document offers neither null nor a null default.
Absent = SkipJsonSchema[None]
NoDefault = Field(json_schema_extra=_undocumented_default)


_CALENDAR_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ].+)?$")


def _calendar_text(value: Any) -> Any:
    """In a query string a day or an instant is ISO 8601 text: pydantic would otherwise
    read `to=0.5` or `to=20240101` as seconds since 1970. Pages that build a query from a
    date they hold pass the date itself."""
    if isinstance(value, date):  # datetime too: built by our code, not parsed from text
        return value
    if not isinstance(value, str) or not _CALENDAR_TEXT.match(value):
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD) or date-time")
    return value


# Sent as ISO 8601 text; only the documented forms are taken.
CalendarText = BeforeValidator(_calendar_text)


class PageQuery(QueryIn):
    """`?limit=&cursor=` of every list."""

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class RegisterIn(In):
    """Patient self-registration."""

    username: Username
    password: NewPassword
    full_name: Name
    phone: Phone
    email: Email | None = None
    locale: Locale | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None


class RegistrationOut(Out):
    """The one answer to a registration, whatever happened to the username."""

    detail: str


class LoginIn(In):
    """Username and password."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password


class LoginOut(Out):
    """The signed-in user after a cookie login."""

    user: MeOut


class TokenOut(Out):
    """A bearer token for API clients."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_at: datetime


class FacilityIn(In):
    """A new facility."""

    code: Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")]
    name: Name
    level: FacilityLevel
    province: Annotated[str, Field(min_length=1, max_length=100)]
    parent_id: str | None = None
    timezone: Annotated[str, Field(max_length=64, json_schema_extra=_time_zones)] = (
        "Asia/Ho_Chi_Minh"
    )


class FacilityOut(Out):
    """A facility of the network."""

    id: str
    code: str
    name: str
    level: FacilityLevel
    province: str
    parent_id: str | None
    timezone: str


class FacilityPage(Out):
    """A page of facilities."""

    items: list[FacilityOut]
    next: str | None


class FacilityQuery(PageQuery):
    """Facility filters."""

    level: FacilityLevel | None = None


class SpecialtyOut(Out):
    """A specialty with its names in both languages."""

    code: str
    name_vi: str
    name_en: str


class UserCreate(In):
    """A staff account made by an admin."""

    username: Username
    password: NewPassword
    full_name: Name
    roles: Annotated[list[Role], Field(min_length=1, max_length=7)]
    facility_id: str | None = None
    specialties: Annotated[list[str], Field(max_length=10)] = []
    licence_number: Annotated[str, Field(max_length=32)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None


class UserUpdate(In):
    """Fields an admin may change on a user."""

    full_name: Annotated[Name | Absent, NotNull, NoDefault] = None
    roles: Annotated[list[Role], Field(min_length=1, max_length=7)] | None = None
    facility_id: str | None = None
    active: Annotated[bool | Absent, NotNull, NoDefault] = None
    phone: Phone | None = None
    email: Email | None = None


class MeUpdate(In):
    """Fields users may change on themselves."""

    full_name: Annotated[Name | Absent, NotNull, NoDefault] = None
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None


class PasswordChange(In):
    """One's own password change: the current password, then the new one."""

    current_password: Password
    new_password: NewPassword


class FacilityRef(Out):
    """A short reference to a facility."""

    id: str
    code: str
    name: str
    level: FacilityLevel


class UserOut(Out):
    """A user account (never its password hash)."""

    id: str
    username: str
    full_name: str
    roles: list[Role]
    facility_id: str | None
    phone: str | None
    email: str | None
    locale: str | None
    active: bool
    created_at: datetime


class UserPage(Out):
    """A page of users."""

    items: list[UserOut]
    next: str | None


class UserQuery(PageQuery):
    """User filters."""

    role: Role | None = None
    facility_id: str | None = None


class MeOut(Out):
    """The signed-in user, their roles and facility."""

    id: str
    username: str
    full_name: str
    roles: list[Role]
    facility: FacilityRef | None
    locale: str | None
    patient_id: str | None = None
    practitioner_id: str | None = None


class PatientCreate(In):
    """A patient record, possibly without a login (booked on their behalf)."""

    full_name: Name
    national_id: (
        Annotated[str, Field(max_length=12, json_schema_extra={"pattern": NATIONAL_ID_PATTERN})]
        | None
    ) = None
    insurance_number: Insurance | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    phone: ContactPhone | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    home_facility_id: str | None = None

    @model_validator(mode="after")
    def _national_id_agrees(self) -> PatientCreate:
        if self.national_id is not None:
            validators.check_national_id(self.national_id, self.date_of_birth, self.sex)
        if self.date_of_birth is not None and self.date_of_birth > date.today():
            raise ValueError("date_of_birth is in the future")
        return self


class PatientOut(Out):
    """A patient record."""

    id: str
    full_name: str
    national_id: str | None
    insurance_number: str | None
    date_of_birth: date | None
    sex: str | None
    phone: str | None
    address: str | None
    home_facility_id: str | None
    has_login: bool
    created_at: datetime


class PatientPage(Out):
    """A page of patients."""

    items: list[PatientOut]
    next: str | None


class PatientQuery(PageQuery):
    """Patient search: by name, national id, insurance number or phone."""

    q: Annotated[str, Field(max_length=100)] | None = None
    facility_id: str | None = None


class PractitionerOut(Out):
    """Someone who can be booked or consulted."""

    id: str
    user_id: str
    full_name: str
    facility: FacilityRef | None
    specialties: list[str]
    licence_number: str | None


class PractitionerPage(Out):
    """A page of practitioners."""

    items: list[PractitionerOut]
    next: str | None


class PractitionerQuery(PageQuery):
    """Practitioner filters."""

    specialty: Annotated[str, Field(max_length=32)] | None = None
    facility_id: str | None = None
    role: Annotated[
        Literal["doctor", "specialist"] | None,
        Field(description="Only doctors, or only specialists (who answer consults)"),
    ] = None


LoginOut.model_rebuild()
