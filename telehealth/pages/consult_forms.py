"""Form plumbing shared by the consult pages: the case fields, refusals and local times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import pydantic
from aiohttp import web
from babel.numbers import format_decimal
from multidict import MultiDict
from pydantic import BaseModel, Field

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.schemas import In
from telehealth.consults import schemas as s
from telehealth.consults.models import Urgency
from telehealth.errors import Conflict, DomainError, Forbidden, InvalidInput
from telehealth.pages import timetable
from telehealth.pages.forms import FormInvalid, FormState
from telehealth.pages.lookups import MAX_CHOICES, specialty_choices
from telehealth.views.routing import Call
from telehealth.views.templating import N_

M = TypeVar("M", bound=BaseModel)

VITALS = (
    "heart_rate",
    "systolic_bp",
    "diastolic_bp",
    "temperature_c",
    "respiratory_rate",
    "spo2",
    "weight_kg",
    "blood_glucose_mmol",
)
CASE_TEXTS = ("history", "examination", "current_treatment", "allergies")
OPTIONAL_IDS = ("target_facility_id", "target_practitioner_id")

# What the consult services raise that a browser user may meet on an error page.
SERVICE_DETAILS = (
    N_("No such consult."),
    N_("No such attachment."),
    N_("Only the requesting doctor can change this request."),
    N_("Accept the consult first."),
    N_("This request is not in your queue."),
)

CHECK = N_("Check this field.")
FIELD_MESSAGES: dict[str, str] = {
    "patient_id": N_("Choose the patient."),
    "specialty": N_("Choose the specialty to ask."),
    "target_facility_id": N_("Choose a facility from the list."),
    "target_practitioner_id": N_("Choose a specialist of the chosen specialty, or nobody."),
    "urgency": N_("Choose how urgent the answer is."),
    "question": N_("Write the clinical question (at most 4000 characters)."),
    "history": N_("The history is too long."),
    "examination": N_("The examination is too long."),
    "current_treatment": N_("The current treatment is too long."),
    "allergies": N_("The allergies are too long."),
    "heart_rate": N_("Enter the pulse in beats per minute, between 10 and 300."),
    "systolic_bp": N_("Enter the systolic pressure in mmHg, between 30 and 300."),
    "diastolic_bp": N_("Enter the diastolic pressure in mmHg, between 10 and 200."),
    "temperature_c": N_("Enter the temperature in °C, between 25 and 45."),
    "respiratory_rate": N_("Enter the breaths per minute, between 2 and 100."),
    "spo2": N_("Enter the oxygen saturation in %, between 30 and 100."),
    "weight_kg": N_("Enter the weight in kg, up to 400."),
    "blood_glucose_mmol": N_("Enter the blood glucose in mmol/L, up to 60."),
    "note": N_("Say briefly why the request is amended."),
    "cancel_reason": N_("Say briefly why the request is withdrawn."),
    "decline_reason": N_("Say briefly why the request is declined."),
    "info_question": N_("Write what you need from the requesting doctor."),
    "text": N_("Write the message (at most 4000 characters)."),
    "practitioner_id": N_("Choose a specialist from the list."),
    "mode": N_("Choose whether to hand over or add the colleague."),
    "start": N_("Enter a date and time in the future."),
    "assessment": N_("Write the assessment."),
    "recommendations": N_("Write the recommendations."),
    "recommended_tests": N_("The recommended tests are too long."),
    "recommended_treatment": N_("The recommended treatment is too long."),
    "disposition": N_("Choose what should happen to the patient."),
    "transfer_facility_id": N_("Choose the facility to transfer the patient to."),
    "amendment_reason": N_("Say why the opinion is amended."),
    "sign": N_("Tick the box to sign the opinion."),
}
# Rules the consult service enforces, by its English detail: the field they concern.
SERVICE_FIELDS: dict[str, str] = {
    "target_facility_id names no facility.": "target_facility_id",
    "target_practitioner_id names no specialist of this specialty.": "target_practitioner_id",
    "An amended opinion needs an amendment_reason.": "amendment_reason",
    "transfer_facility_id names no facility.": "transfer_facility_id",
    "practitioner_id names no specialist.": "practitioner_id",
    "The session must start in the future.": "start",
}
NOT_NOW = N_("The consult has changed meanwhile: this is not possible in its current state.")


class CaseChanges(In):
    """What an amendment may change: the question, urgency, presence and the case."""

    question: s.Text
    urgency: Urgency
    summary: s.CaseSummary = Field(default_factory=s.CaseSummary)
    patient_present: bool = False


class CaseIn(CaseChanges):
    """The request form's fields other than the patient."""

    specialty: Annotated[str, Field(min_length=1, max_length=32)]
    target_facility_id: s.Id | None = None
    target_practitioner_id: s.Id | None = None


def consult_id(call: Call[Any, Any]) -> str:
    """The consult named in the path, or NotFound without asking the database."""
    return timetable.checked_id(call.path("consult_id"), "No such consult.")


def case_data(form: MultiDict[str]) -> dict[str, Any]:
    """The request fields of a posted form, nested as the consult models expect them."""
    data: dict[str, Any] = {
        name: form[name].strip()
        for name in ("specialty", "urgency", "question", *OPTIONAL_IDS)
        if form.get(name, "").strip()
    }
    summary: dict[str, Any] = {name: form.get(name, "") for name in CASE_TEXTS}
    # A Vietnamese keyboard writes 37,5 for 37.5.
    summary["vitals"] = {
        name: form[name].strip().replace(",", ".") for name in VITALS if form.get(name, "").strip()
    }
    data["summary"] = summary
    data["patient_present"] = form.get("patient_present") == "1"
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    """`model` from form data, or FormInvalid with a message next to each field at fault."""
    try:
        return model.model_validate(data, strict=False)
    except pydantic.ValidationError as exc:
        raise FormInvalid(field_errors(exc)) from None


def field_errors(exc: pydantic.ValidationError) -> dict[str, str]:
    """A message per form field; nested case fields are named by their last part."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        # A rule across fields (the opinion's transfer facility) has no location.
        name = loc[-1] if loc else "transfer_facility_id"
        errors.setdefault(name, FIELD_MESSAGES.get(name, CHECK))
    return errors


def case_values(consult: s.ConsultOut, locale: str) -> dict[str, str]:
    """The form fields of an existing request, to edit or amend it (vital signs written
    with the page language's decimal separator: "36,8" in Vietnamese; `case_data` reads
    either)."""
    values = {
        "specialty": consult.specialty,
        "urgency": consult.urgency.value,
        "question": consult.question or "",
        "target_facility_id": consult.target_facility_id or "",
        "target_practitioner_id": consult.target_practitioner_id or "",
        "patient_present": "1" if consult.patient_present else "",
    }
    summary = case_summary(consult)
    values.update({name: getattr(summary, name) for name in CASE_TEXTS})
    for name in VITALS:
        value = getattr(summary.vitals, name)
        values[name] = "" if value is None else format_decimal(value, "0.##", locale=locale)
    return values


def case_summary(consult: s.ConsultOut) -> s.CaseSummary:
    """The case summary of a consult as the model (empty when it cannot be shown)."""
    return s.CaseSummary.model_validate(consult.summary or {}, strict=False)


def refused(form: MultiDict[str], error: DomainError) -> FormState:
    """The form shown again after a refusal: its values, a message per field, the status."""
    state = FormState.of(form)
    if isinstance(error, FormInvalid):
        state.errors = {k: FIELD_MESSAGES.get(k, v) for k, v in error.errors.items()}
        state.message, state.status = error.message, 400
    elif isinstance(error, Conflict):
        state.message, state.status = NOT_NOW, 409
    elif isinstance(error, Forbidden):
        state.message, state.status = error.detail, 403
    elif error.detail in SERVICE_FIELDS:
        name = SERVICE_FIELDS[error.detail]
        state.errors, state.status = {name: FIELD_MESSAGES[name]}, 400
    elif error.detail.startswith("Unknown specialty"):
        state.errors, state.status = {"specialty": FIELD_MESSAGES["specialty"]}, 400
    else:
        state.message, state.status = error.detail, 400
    return state


REFUSALS = (InvalidInput, Conflict, Forbidden)


def local_time(request: web.Request) -> Callable[[datetime | None], datetime | None]:
    """Converts stored UTC times to the network's time zone for display."""
    zone = timetable.local_zone(request)

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone) if moment is not None else None

    return local


def remaining(due_at: datetime | None) -> tuple[bool, int, int] | None:
    """(overdue, hours, minutes) between now and the deadline, or None without one."""
    if due_at is None:
        return None
    left = due_at - timetable.clock()
    overdue = left < timedelta(0)
    minutes = int(abs(left).total_seconds() // 60)
    return overdue, minutes // 60, minutes % 60


def deadline_minutes(request: web.Request) -> dict[str, int]:
    """Minutes allowed for an answer, per urgency (from the settings)."""
    settings = request.app[keys.SETTINGS].consults
    return {urgency: int(delta.total_seconds() // 60) for urgency, delta in settings.deadlines}


SpecialistGroup = tuple[str, str, list[tuple[str, str]]]


async def specialist_choices(
    request: web.Request, specialty: str | None = None, *, exclude_user: str | None = None
) -> list[SpecialistGroup]:
    """(specialty code, name, [(practitioner id, "name · facility")]) for the selects:
    specialists only (a GP answers no consult), each once per specialty, without
    `exclude_user` (the requester does not ask himself)."""
    names = dict(await specialty_choices(request))
    query = accounts_schemas.PractitionerQuery(
        specialty=specialty, role="specialist", limit=MAX_CHOICES
    )
    page = await request.app[keys.ACCOUNTS].list_practitioners(query)
    groups: dict[str, dict[str, str]] = {}
    for p in page.items:
        if p.user_id == exclude_user:
            continue
        label = f"{p.full_name} · {p.facility.name}" if p.facility else p.full_name
        for code in dict.fromkeys(p.specialties):
            if specialty is None or code == specialty:
                groups.setdefault(code, {})[p.id] = label
    return [(code, names.get(code, code), list(groups[code].items())) for code in sorted(groups)]
