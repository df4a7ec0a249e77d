"""Request and response models of the scheduling API."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, WithJsonSchema, model_validator

from telehealth.accounts.schemas import CalendarText, FacilityRef, In, Out, PageQuery
from telehealth.scheduling.models import AppointmentStatus, VisitMode


def _five_minute(value: time) -> time:
    if value.minute % 5 or value.second or value.microsecond:
        raise ValueError("times must fall on 5-minute marks, e.g. 07:30 or 13:05")
    return value


# A wall-clock time in the facility's zone, written "07:00:00" with no offset: JSON
# Schema's `time` format is RFC 3339's full-time, which requires one.
WallTime = Annotated[
    time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
            "description": "A local time, HH:MM or HH:MM:SS, without offset.",
        }
    ),
]
LocalTime = Annotated[WallTime, AfterValidator(_five_minute)]


class BreakIn(In):
    """A pause inside a weekly window, in local time."""

    start: LocalTime
    end: LocalTime


class RuleIn(In):
    """One weekly availability window in the facility's time zone."""

    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]
    start: LocalTime
    end: LocalTime
    slot_minutes: Annotated[int, Field(ge=5, le=240, multiple_of=5)]
    breaks: Annotated[list[BreakIn], Field(max_length=6, default_factory=list)]
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RuleIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        for b in self.breaks:
            if not (self.start <= b.start < b.end <= self.end):
                raise ValueError("each break must lie inside the window")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class AvailabilityIn(In):
    """The whole weekly rule set of a practitioner (replaces the previous one)."""

    rules: Annotated[list[RuleIn], Field(max_length=50)]


class RuleOut(Out):
    """A stored weekly rule."""

    id: str
    weekday: int
    start: WallTime
    end: WallTime
    slot_minutes: int
    breaks: list[tuple[WallTime, WallTime]]
    valid_from: date
    valid_until: date | None


class BlockIn(In):
    """A one-off absence (holiday, leave)."""

    start: AwareDatetime
    end: AwareDatetime
    reason: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> BlockIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BlockOut(Out):
    """A stored absence."""

    id: str
    start: datetime
    end: datetime
    reason: str | None


class PersonRef(Out):
    """A short reference to a person."""

    id: str
    full_name: str


class AppointmentBrief(Out):
    """An appointment in a list of conflicts or a schedule."""

    id: str
    start: datetime
    end: datetime
    status: AppointmentStatus
    patient: PersonRef


class AvailabilityOut(Out):
    """Rules, blocks and the booked appointments that no longer fit them."""

    practitioner_id: str
    timezone: str
    rules: list[RuleOut]
    blocks: list[BlockOut]
    conflicts: list[AppointmentBrief]


class SlotQuery(PageQuery):
    """Free-slot search; the range is at most 31 days (default: the next 14 days)."""

    specialty: Annotated[str, Field(max_length=32)] | None = None
    practitioner_id: Annotated[str, Field(max_length=36)] | None = None
    facility_id: Annotated[str, Field(max_length=36)] | None = None
    from_: Annotated[AwareDatetime | date | None, CalendarText, Field(alias="from")] = None
    to: Annotated[AwareDatetime | date | None, CalendarText] = None


class SlotOut(Out):
    """A free slot, in the facility's local time."""

    id: str
    practitioner_id: str
    practitioner_name: str
    facility: FacilityRef
    specialties: list[str]
    start: datetime
    end: datetime


class EmptyReason(StrEnum):
    """Why a slot search found nothing: no one to book, no hours, or every slot taken."""

    NO_PRACTITIONER = "no_practitioner"
    NO_HOURS = "no_hours"
    ALL_BOOKED = "all_booked"


class SlotPage(Out):
    """A page of free slots, soonest first.

    When the first page is empty, `empty_reason` says why and `next_date` is the first
    later day (in the facility's time, within 90 days of the range) that has a free slot."""

    items: list[SlotOut]
    next: str | None
    empty_reason: EmptyReason | None = None
    next_date: date | None = None


class AppointmentCreate(In):
    """Book a slot, for oneself (patients) or for a patient record (staff)."""

    slot_id: Annotated[str, Field(min_length=1, max_length=80)]
    patient_id: Annotated[str, Field(max_length=36)] | None = None
    mode: VisitMode = VisitMode.VIDEO
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    companion: Annotated[
        str | None,
        Field(
            max_length=200,
            description="Who will sit with the patient (a visit booked on their behalf)",
        ),
    ] = None


class CancelIn(In):
    """Why the appointment is cancelled."""

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class RescheduleIn(In):
    """Move the appointment to another free slot of the same practitioner."""

    slot_id: Annotated[str, Field(min_length=1, max_length=80)]
    reason: Annotated[str, Field(max_length=500)] | None = None


class AppointmentOut(Out):
    """An appointment as its parties see it."""

    id: str
    slot_id: str
    patient: PersonRef
    practitioner: PersonRef
    facility: FacilityRef
    start: datetime
    end: datetime
    mode: VisitMode
    reason: str
    status: AppointmentStatus
    booked_by: PersonRef
    booked_on_behalf: bool
    companion: str | None = None
    patient_phone: Annotated[
        str | None,
        Field(description="The patient's contact number; shown to the visit's doctor only"),
    ] = None
    cancel_reason: str | None
    checked_in_at: datetime | None
    room_id: str | None
    version: int
    created_at: datetime


class AppointmentPage(Out):
    """A page of appointments."""

    items: list[AppointmentOut]
    next: str | None


class AppointmentQuery(PageQuery):
    """Appointment filters; what a caller sees is limited by who they are."""

    status: AppointmentStatus | None = None
    practitioner_id: Annotated[str, Field(max_length=36)] | None = None
    patient_id: Annotated[str, Field(max_length=36)] | None = None
    from_: Annotated[AwareDatetime | date | None, CalendarText, Field(alias="from")] = None
    to: Annotated[AwareDatetime | date | None, CalendarText] = None
    # true: only visits still to happen (booked, checked in, in progress); false: the others.
    active: bool | None = None


class FeedOut(Out):
    """A practitioner's private calendar feed URL (shown once per rotation)."""

    url: str
