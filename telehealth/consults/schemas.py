"""Request and response models of the consults API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from telehealth.accounts.schemas import (
    Absent,
    FacilityRef,
    In,
    NoDefault,
    NotNull,
    Out,
    PageQuery,
    QueryIn,
)
from telehealth.consults.models import ConsultStatus, Disposition, Urgency
from telehealth.scheduling.schemas import PersonRef

Text = Annotated[str, Field(min_length=1, max_length=4000)]
LongText = Annotated[str, Field(min_length=1, max_length=20000)]
Id = Annotated[str, Field(min_length=1, max_length=36)]
SpecialtyCode = Annotated[str, Field(min_length=1, max_length=32)]


class Vitals(In):
    """Vital signs at the time of the request; all optional."""

    temperature_c: Annotated[float, Field(ge=25, le=45)] | None = None
    heart_rate: Annotated[int, Field(ge=10, le=300)] | None = None
    respiratory_rate: Annotated[int, Field(ge=2, le=100)] | None = None
    systolic_bp: Annotated[int, Field(ge=30, le=300)] | None = None
    diastolic_bp: Annotated[int, Field(ge=10, le=200)] | None = None
    spo2: Annotated[int, Field(ge=30, le=100)] | None = None
    weight_kg: Annotated[float, Field(gt=0, le=400)] | None = None
    blood_glucose_mmol: Annotated[float, Field(gt=0, le=60)] | None = None


class CaseSummary(In):
    """The structured case: history, examination, vitals, treatment, allergies."""

    history: Annotated[str, Field(max_length=20000)] = ""
    examination: Annotated[str, Field(max_length=20000)] = ""
    vitals: Vitals = Field(default_factory=Vitals)
    current_treatment: Annotated[str, Field(max_length=20000)] = ""
    allergies: Annotated[str, Field(max_length=2000)] = ""


class ConsultCreate(In):
    """A new consult request; submitted at once unless `draft` is true."""

    patient_id: Id
    specialty: Annotated[str, Field(min_length=1, max_length=32)]
    urgency: Urgency
    question: Text
    summary: CaseSummary = Field(default_factory=CaseSummary)
    patient_present: bool = False
    target_facility_id: Id | None = None
    target_practitioner_id: Id | None = None
    draft: bool = False


class ConsultDraftUpdate(In):
    """Changes to a draft (anything but the patient)."""

    specialty: Annotated[SpecialtyCode | Absent, NotNull, NoDefault] = None
    urgency: Annotated[Urgency | Absent, NotNull, NoDefault] = None
    question: Annotated[Text | Absent, NotNull, NoDefault] = None
    summary: Annotated[CaseSummary | Absent, NotNull, NoDefault] = None
    patient_present: Annotated[bool | Absent, NotNull, NoDefault] = None
    target_facility_id: Id | None = None
    target_practitioner_id: Id | None = None


class ConsultAmend(In):
    """An amendment of a submitted request: what changes and why."""

    question: Annotated[Text | Absent, NotNull, NoDefault] = None
    summary: Annotated[CaseSummary | Absent, NotNull, NoDefault] = None
    urgency: Annotated[Urgency | Absent, NotNull, NoDefault] = None
    patient_present: Annotated[bool | Absent, NotNull, NoDefault] = None
    note: Annotated[str, Field(min_length=1, max_length=2000)]

    @model_validator(mode="after")
    def _changes_something(self) -> ConsultAmend:
        if not (self.model_fields_set - {"note"}):
            raise ValueError("an amendment must change at least one field")
        return self


class ReasonIn(In):
    """A reason (declining, cancelling)."""

    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class AssignIn(In):
    """Hand over to a colleague, or add one to the consult."""

    practitioner_id: Id
    mode: Literal["reassign", "add"] = "reassign"


class InfoRequestIn(In):
    """What the specialist needs from the requester."""

    question: Text


class MessageIn(In):
    """A message on the consult."""

    text: Text


class ScheduleIn(In):
    """A live session for the consult."""

    start: AwareDatetime


class OpinionIn(In):
    """A written opinion; signing is implied by submitting it."""

    assessment: LongText
    recommendations: LongText
    recommended_tests: Annotated[str, Field(max_length=20000)] | None = None
    recommended_treatment: Annotated[str, Field(max_length=20000)] | None = None
    disposition: Disposition
    transfer_facility_id: Id | None = None
    amendment_reason: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _transfer_names_a_facility(self) -> OpinionIn:
        if (self.disposition == Disposition.TRANSFER) != (self.transfer_facility_id is not None):
            raise ValueError("transfer_facility_id is required for, and only for, a transfer")
        return self


class OpinionOut(Out):
    """A signed opinion version."""

    id: str
    version: int
    author: PersonRef
    assessment: str
    recommendations: str
    recommended_tests: str | None
    recommended_treatment: str | None
    disposition: Disposition
    transfer_facility_id: str | None
    amendment_reason: str | None
    signed_at: datetime
    content_hash: str
    # The room of the live session the opinion was signed after (None: none took place).
    session_room_id: str | None = None


class AmendmentOut(Out):
    """One amendment of a submitted request: the values it replaced and the new ones."""

    version: int = Field(description="The version of the request this amendment made.")
    author: PersonRef
    at: datetime
    note: str | None
    previous: dict[str, Any] = Field(description="Each changed field as it was before.")
    changes: dict[str, Any] = Field(description="Each changed field as it became.")


class AssigneeOut(Out):
    """A specialist on the consult."""

    practitioner_id: str
    full_name: str
    lead: bool


class ConsultPatient(PersonRef):
    """The patient as the care team of a consult sees them: who, and at a glance how old."""

    sex: str | None
    date_of_birth: date | None
    national_id: str | None
    insurance_number: str | None


class ConsultOut(Out):
    """A consult request. Clinical fields are null for callers who see metadata only."""

    id: str
    status: ConsultStatus
    urgency: Urgency
    specialty: str
    patient: ConsultPatient | None
    requester: PersonRef
    requesting_facility: FacilityRef
    target_facility_id: str | None
    target_practitioner_id: str | None
    assignees: list[AssigneeOut]
    question: str | None
    summary: dict[str, Any] | None
    patient_present: bool
    version: int
    submitted_at: datetime | None
    due_at: datetime | None
    overdue: bool
    answered_at: datetime | None
    session_at: datetime | None
    room_id: str | None
    opinion: OpinionOut | None
    clinical: bool
    created_at: datetime


class ConsultPage(Out):
    """A page of consults."""

    items: list[ConsultOut]
    next: str | None


class ConsultQuery(PageQuery):
    """`queue=specialty` (the caller's specialty queues) or `queue=mine` (own requests and
    consults one works on); `status` filters."""

    queue: Literal["specialty", "mine"] = "mine"
    status: ConsultStatus | None = None


class TimelineEntry(Out):
    """One timeline entry."""

    id: str
    at: datetime
    kind: str
    actor: PersonRef | None
    data: dict[str, Any]


class TimelineOut(Out):
    """The whole timeline of a consult, oldest first."""

    items: list[TimelineEntry]


class UploaderRef(Out):
    """Who attached a file."""

    id: str
    name: str


class AttachmentOut(Out):
    """A file attached to a consult; `meta` holds what was read from it (DICOM: modality,
    study_date, body_part, rows, columns, frames; images: width, height)."""

    id: str
    consult_id: str
    filename: str
    content_type: str
    kind: Literal["image", "pdf", "dicom"]
    size: int
    sha256: str
    meta: dict[str, Any]
    has_preview: bool
    uploaded_by: UploaderRef
    created_at: datetime
    download_url: str
    preview_url: str | None
    # A JPEG of at most 192 px a side (images and DICOM); the preview's URL for files
    # uploaded before thumbnails were made, none for a PDF.
    thumbnail_url: str | None = None


class DownloadQuery(QueryIn):
    """`inline=true` asks the browser to show the file rather than save it."""

    inline: bool = False
