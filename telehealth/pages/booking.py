"""Finding a doctor, choosing a free slot, booking it (also on a patient's behalf), moving it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pydantic
from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import Role
from telehealth.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    InvalidInput,
    NotFound,
    Unprocessable,
)
from telehealth.pages.forms import (
    FormInvalid,
    FormState,
    PageQuery,
    parse_form,
    see_other,
)
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.pages.timetable import (
    FilterQuery,
    QueryCode,
    QueryId,
    QueryText,
    checked_id,
    checked_slot_id,
    group_slots,
    here,
    read_page_form,
)
from telehealth.scheduling import schemas as s
from telehealth.scheduling.slots import parse_slot_id
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

BOOKERS = {Role.PATIENT, Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR}
STAFF_BOOKERS = (Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR)
SLOTS_PER_PAGE = 60
PATIENT_CHOICES = 20
SEARCH_DAYS = 7

SLOT_TAKEN = N_("Someone else has just booked this time. Please choose another time below.")
PATIENT_BUSY = N_(
    "The patient already has an appointment at this time. Please choose another time below."
)
SLOT_GONE = N_("This time is no longer free. Please choose another time below.")
CANNOT_CHANGE = N_("This appointment can no longer be changed.")
SAME_DOCTOR = N_("A new time must be with the same doctor; book a new appointment instead.")
BOOKING_FIELDS = {
    "reason": N_("Describe briefly why the visit is needed."),
    "mode": N_("Choose video or audio."),
    "patient_id": N_("Choose the patient to book for."),
}


class FindQuery(FilterQuery):
    """The find-a-doctor form, the patient booked for, and the appointment being moved."""

    specialty: QueryCode | None = None
    facility_id: QueryId | None = None
    date: dt.date | None = None
    practitioner_id: QueryId | None = None
    patient_id: QueryId | None = None
    reschedule: QueryId | None = None
    cursor: str | None = pydantic.Field(default=None, max_length=200)


class BookQuery(FilterQuery):
    """The patient chosen (or searched for) by staff, or the appointment being moved."""

    patient_id: QueryId | None = None
    q: QueryText | None = None
    reschedule: QueryId | None = None


@dataclass
class Booking:
    """What the confirmation page is about: a slot, for whom, and whether it moves a visit."""

    slot_id: str
    patient_id: str | None = None
    reschedule_id: str | None = None
    q: str = ""
    next_slots: list[s.SlotOut] | None = None
    carry: dict[str, str] = field(default_factory=dict)


def _staff(call: Call[Any, Any]) -> bool:
    return call.principal.has(*STAFF_BOOKERS)


@routes.get("/find", summary="Find a doctor page", page=True, query=FindQuery)
async def find_page(call: Call[None, FindQuery]) -> web.Response:
    """Free slots by specialty, facility and date, grouped by day and doctor."""
    q = call.query
    page = await call.request.app[keys.SLOTS].free_slots(_slot_query(q))
    patient = None
    if q.patient_id and _staff(call):
        patient = await call.request.app[keys.ACCOUNTS].get_patient(
            call.principal, call.audit, checked_id(q.patient_id, "No such patient.")
        )
    values = q.model_dump(exclude={"lang", "cursor"}, exclude_none=True)
    carry = {k: v for k, v in values.items() if k in {"patient_id", "reschedule"}}
    context = {
        "specialties": await specialty_choices(call.request),
        "facilities": await facility_choices(call.request),
        "form": FormState(values={k: str(v) for k, v in values.items()}),
        "days": group_slots(page.items),
        "next_page": {**values, "cursor": page.next} if page.next else None,
        "empty_reason": page.empty_reason,
        "next_date_query": {**values, "date": page.next_date} if page.next_date else None,
        "next_date": page.next_date,
        "first_page": q.cursor is None,
        "patient": patient,
        "carry": carry,
        "here": here(call.request),
    }
    return render_page(call.request, "find_doctor.html", context)


def _slot_query(q: FindQuery) -> s.SlotQuery:
    data: dict[str, Any] = {
        "limit": SLOTS_PER_PAGE,
        "cursor": q.cursor,
        "specialty": q.specialty,
        "facility_id": q.facility_id,
        "practitioner_id": q.practitioner_id,
    }
    if q.date is not None:
        data["from"], data["to"] = q.date, q.date + timedelta(days=SEARCH_DAYS - 1)
    return s.SlotQuery.model_validate({k: v for k, v in data.items() if v is not None})


@routes.get(
    "/book/{slot_id}", summary="Confirm a booking page", page=True, roles=BOOKERS, query=BookQuery
)
async def book_page(call: Call[None, BookQuery]) -> web.Response:
    """The slot, the visit mode and reason; staff choose the patient."""
    booking = Booking(
        slot_id=checked_slot_id(call.path("slot_id")),
        patient_id=call.query.patient_id,
        reschedule_id=call.query.reschedule,
        q=call.query.q or "",
    )
    return await _confirm_page(call, booking, FormState(values={"mode": "video"}))


@routes.post("/book/{slot_id}", summary="Book a slot", page=True, roles=BOOKERS, query=PageQuery)
async def book_submit(call: Call[None, PageQuery]) -> web.Response:
    """Book, then show the appointment; a taken slot offers the next free ones."""
    form = await read_page_form(call.request)
    patient_id = form.get("patient_id") or None
    booking = Booking(
        slot_id=checked_slot_id(call.path("slot_id")),
        patient_id=checked_id(patient_id, "No such patient.") if patient_id else None,
    )
    try:
        data = parse_form(s.AppointmentCreate, form, slot_id=booking.slot_id)
        appointment = await call.request.app[keys.APPOINTMENTS].book(
            call.principal, call.audit, data
        )
    except (InvalidInput, Conflict, Unprocessable) as error:
        return await _confirm_page(call, booking, _refused(form, error, booking))
    return see_other(f"/appointments/{appointment.id}?done=booked")


@routes.post(
    "/appointments/{appointment_id}/reschedule",
    summary="Move an appointment to another slot",
    page=True,
    query=PageQuery,
)
async def reschedule_submit(call: Call[None, PageQuery]) -> web.Response:
    """Move the visit to the chosen slot of the same doctor, atomically."""
    appointment_id = checked_id(call.path("appointment_id"), "No such appointment.")
    form = await read_page_form(call.request)
    booking = Booking(
        slot_id=checked_slot_id(form.get("slot_id", "")), reschedule_id=appointment_id
    )
    try:
        data = parse_form(s.RescheduleIn, form)
        await call.request.app[keys.APPOINTMENTS].reschedule(
            call.principal, call.audit, appointment_id, data
        )
    except (InvalidInput, Conflict, Unprocessable) as error:
        return await _confirm_page(call, booking, _refused(form, error, booking))
    return see_other(f"/appointments/{appointment_id}?done=rescheduled")


def _refused(form: MultiDict[str], error: DomainError, booking: Booking) -> FormState:
    state = FormState.of(form)
    if isinstance(error, FormInvalid):
        state.errors = {k: BOOKING_FIELDS.get(k, v) for k, v in error.errors.items()}
        state.status = 400
    elif isinstance(error, Conflict):
        state.status = 409
        state.message = {
            ErrorCode.SLOT_TAKEN: SLOT_TAKEN,
            ErrorCode.OVERLAPPING_APPOINTMENT: PATIENT_BUSY,
        }.get(error.code, CANNOT_CHANGE)
        offered = error.extra.get("next_slots")
        if isinstance(offered, list):
            booking.next_slots = [s.SlotOut.model_validate(n) for n in offered]
    elif isinstance(error, Unprocessable):
        state.message, state.status = SLOT_GONE, 422
    elif isinstance(error, InvalidInput) and "patient_id" in error.detail:
        state.errors, state.status = {"patient_id": BOOKING_FIELDS["patient_id"]}, 400
    elif isinstance(error, InvalidInput) and booking.reschedule_id:
        state.message, state.status = SAME_DOCTOR, 400
    else:
        state.message, state.status = error.detail, 400
    return state


async def _free_slot(call: Call[Any, Any], slot_id: str) -> s.SlotOut | None:
    practitioner_id, start = parse_slot_id(slot_id)
    query = s.SlotQuery.model_validate(
        {
            "practitioner_id": practitioner_id,
            "from": start,
            "to": start + timedelta(minutes=1),
            "limit": 1,
        }
    )
    page = await call.request.app[keys.SLOTS].free_slots(query)
    return next((slot for slot in page.items if slot.id == slot_id), None)


async def _confirm_page(call: Call[Any, Any], booking: Booking, state: FormState) -> web.Response:
    request = call.request
    slot = await _free_slot(call, booking.slot_id)
    alternatives = booking.next_slots
    if alternatives is None:
        alternatives = (
            []
            if slot
            else await request.app[keys.SLOTS].next_free(parse_slot_id(booking.slot_id)[0])
        )
    if slot is None and not alternatives:
        raise NotFound("No such slot.")
    if slot is None and state.message is None:
        state.message = SLOT_GONE
    moving = None
    if booking.reschedule_id:
        moving = await request.app[keys.APPOINTMENTS].get(
            call.principal, call.audit, checked_id(booking.reschedule_id, "No such appointment.")
        )
        booking.carry["reschedule"] = booking.reschedule_id
        booking.carry["practitioner_id"] = moving.practitioner.id
    context = {
        "slot": slot,
        "alternatives": [a for a in alternatives if a.id != booking.slot_id],
        "form": state,
        "moving": moving,
        "here": here(request),
        **await _patient_choice(call, booking, staff=_staff(call) and moving is None),
    }
    context["carry"] = booking.carry
    return render_page(request, "book.html", context, status=state.status)


async def _patient_choice(call: Call[Any, Any], booking: Booking, *, staff: bool) -> dict[str, Any]:
    """Staff book for a patient: the one passed along, or a search over their facility's."""
    context: dict[str, Any] = {"staff": staff, "patient": None, "candidates": [], "q": booking.q}
    if not staff:
        return context
    accounts = call.request.app[keys.ACCOUNTS]
    if booking.patient_id:
        patient_id = checked_id(booking.patient_id, "No such patient.")
        context["patient"] = await accounts.get_patient(call.principal, call.audit, patient_id)
        booking.carry["patient_id"] = patient_id
    else:
        query = accounts_schemas.PatientQuery(q=booking.q or None, limit=PATIENT_CHOICES)
        page = await accounts.list_patients(call.principal, call.audit, query)
        context["candidates"] = page.items
    return context
